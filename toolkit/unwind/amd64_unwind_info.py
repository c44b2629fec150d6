"""x64 unwind data of one image, read by RVA: a numpy index over .pdata and decoded UNWIND_INFO.

Everything goes through a ``read_rva(rva, size) -> bytes`` callable, so the same code serves a
PE file on disk (RVA mapped to a file offset through the section table) and an image mapped in
dump memory (``target.read(base + rva, size)``), where pefile misreads the layout.

Why not pefile's exception-directory parse: it builds a Python object per RUNTIME_FUNCTION and
decodes every UNWIND_INFO eagerly: 85-180 µs per entry in the issue's measurement (0.9 s for 8.8k
entries), ~37 µs per entry on mozwer.dll here, about 1000x our build time. The index here is
three ``uint32`` columns from one ``np.frombuffer`` (~0.06 ms for 1.5k entries) answered by
``bisect``/``searchsorted``; UNWIND_INFO is decoded lazily, only for the functions a walk meets,
and cached. bench/bench_unwind_index.py measures both on the corpus.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from parsers.unwind_amd64 import (
    AMD64_REGISTERS, RUNTIME_FUNCTION, UNWIND_INFO, slot_value, unwind_info_size,
)
from toolkit.model.errors import CorruptInput

ReadRva = Callable[[int, int], bytes]

UNW_FLAG_EHANDLER = 1
UNW_FLAG_UHANDLER = 2
UNW_FLAG_CHAININFO = 4
RUNTIME_FUNCTION_INDIRECT = 1      # UnwindData low bit: points at another RUNTIME_FUNCTION
MAX_CHAIN_DEPTH = 32               # RtlVirtualUnwind has no limit; corrupt data may loop

# Slots each operation occupies (LLVM's getNumUsedSlots; Wine's get_opcode_size).
# UWOP_ALLOC_LARGE is absent: it takes 1 or 2 slots by its OpInfo (decode_ops decides).
_EXTRA_SLOTS = {"UWOP_SAVE_NONVOL": 1, "UWOP_SAVE_NONVOL_FAR": 2,
                "UWOP_EPILOG": 1, "UWOP_SPARE_CODE": 2, "UWOP_SAVE_XMM128": 1,
                "UWOP_SAVE_XMM128_FAR": 2}


@dataclass(frozen=True)
class RuntimeFunction:
    """One .pdata row (RVAs) and its position in the table."""

    begin: int
    end: int
    unwind_data: int
    index: int = -1

    def contains(self, rva: int) -> bool:
        return self.begin <= rva < self.end


@dataclass(frozen=True)
class UnwindOp:
    """One decoded unwind operation: what the prolog did at ``code_offset``.

    ``value`` is the operand in bytes: the allocation size (ALLOC_*), the frame-relative save
    offset (SAVE_*), 1 when a machine frame carries an error code (PUSH_MACHFRAME), else 0.
    ``register`` is the integer register name, or ``xmmN`` for the XMM saves.
    """

    code_offset: int
    op: str
    op_info: int
    value: int = 0
    register: Optional[str] = None

    def describe(self) -> str:
        """llvm-readobj's wording (``ALLOC_SMALL size=56``, ``PUSH_NONVOL reg=RBX``)."""
        name = self.op[len("UWOP_"):]
        reg = self.register.upper() if self.register is not None else "?"
        if self.op in ("UWOP_ALLOC_SMALL", "UWOP_ALLOC_LARGE"):
            return f"{name} size={self.value}"
        if self.op == "UWOP_PUSH_NONVOL":
            return f"{name} reg={reg}"
        if self.op.startswith("UWOP_SAVE"):
            return f"{name} reg={reg}, offset=0x{self.value:X}"
        if self.op == "UWOP_PUSH_MACHFRAME":
            return f"{name} errcode={self.op_info}"
        return name


@dataclass(frozen=True)
class UnwindInfo:
    rva: int
    version: int
    flags: int
    size_of_prolog: int
    count_of_codes: int
    frame_register: Optional[str]       # None when FrameRegister is 0
    frame_offset: int                   # bytes (the field times 16)
    ops: Tuple[UnwindOp, ...]
    handler: Optional[int] = None       # language handler RVA
    chained: Optional[RuntimeFunction] = None

    @property
    def flag_names(self) -> Tuple[str, ...]:
        names = (("UNW_FLAG_EHANDLER", UNW_FLAG_EHANDLER), ("UNW_FLAG_UHANDLER", UNW_FLAG_UHANDLER),
                 ("UNW_FLAG_CHAININFO", UNW_FLAG_CHAININFO))
        return tuple(n for n, bit in names if self.flags & bit)


def read_unwind_info(read_rva: ReadRva, rva: int) -> UnwindInfo:
    """Decode the UNWIND_INFO at ``rva`` (raises CorruptInput on a malformed record)."""
    head = read_rva(rva, 4)
    if len(head) < 4:
        raise CorruptInput("UNWIND_INFO truncated", path=f"unwind info at rva {rva:#x}")
    flags, count = head[0] >> 3, head[2]
    raw = read_rva(rva, unwind_info_size(count, flags))
    try:
        info = UNWIND_INFO.parse(raw)
    except Exception as exc:  # construct's StreamError & co: untrusted bytes
        raise CorruptInput(f"UNWIND_INFO unparsable: {exc}",
                           path=f"unwind info at rva {rva:#x}") from exc
    header = info.Header
    if header.Version not in (1, 2):
        raise CorruptInput(f"UNWIND_INFO version {header.Version}",
                           path=f"unwind info at rva {rva:#x}")
    chained = None
    if info.ChainedFunction is not None:
        c = info.ChainedFunction
        chained = RuntimeFunction(c.BeginAddress, c.EndAddress, c.UnwindData)
    return UnwindInfo(
        rva=rva, version=header.Version, flags=flags, size_of_prolog=header.SizeOfProlog,
        count_of_codes=count,
        frame_register=AMD64_REGISTERS[header.FrameRegister] if header.FrameRegister else None,
        frame_offset=header.FrameOffset * 16, ops=decode_ops(info.UnwindCode, rva),
        handler=info.ExceptionHandler, chained=chained)


def decode_ops(codes, rva: int = 0) -> Tuple[UnwindOp, ...]:
    """UNWIND_CODE slots -> operations with their operands folded in."""
    ops: List[UnwindOp] = []
    i = 0
    while i < len(codes):
        code = codes[i]
        # construct gives the C name (a str) for known codes and a bare int for 11..15.
        op = str(code.UnwindOp) if isinstance(code.UnwindOp, str) else f"UWOP_{int(code.UnwindOp)}"
        info = code.OpInfo
        extra = _EXTRA_SLOTS.get(op, 0)
        if op == "UWOP_ALLOC_LARGE":
            if info not in (0, 1):
                raise CorruptInput(f"ALLOC_LARGE with OpInfo {info}", path=f"rva {rva:#x}")
            extra = 1 if info == 0 else 2
        if i + 1 + extra > len(codes):
            raise CorruptInput(f"{op} operand runs past CountOfCodes", path=f"rva {rva:#x}")
        operand = slot_value(codes, i + 1, extra) if extra else 0
        register: Optional[str] = None
        value = 0
        if op == "UWOP_PUSH_NONVOL":
            register = AMD64_REGISTERS[info]
        elif op == "UWOP_ALLOC_SMALL":
            value = info * 8 + 8
        elif op == "UWOP_ALLOC_LARGE":
            value = operand * 8 if info == 0 else operand
        elif op in ("UWOP_SAVE_NONVOL", "UWOP_SAVE_NONVOL_FAR"):
            register = AMD64_REGISTERS[info]
            value = operand * 8 if op == "UWOP_SAVE_NONVOL" else operand
        elif op in ("UWOP_SAVE_XMM128", "UWOP_SAVE_XMM128_FAR"):
            register = f"xmm{info}"
            value = operand * 16 if op == "UWOP_SAVE_XMM128" else operand
        elif op == "UWOP_PUSH_MACHFRAME":
            value = info
        ops.append(UnwindOp(code.CodeOffset, op, info, value, register))
        i += 1 + extra
    return tuple(ops)


class PdataIndex:
    """Sorted BeginAddress/EndAddress/UnwindData columns of an exception directory."""

    def __init__(self, table: np.ndarray) -> None:
        if table.ndim != 2 or table.shape[1] != 3:
            raise ValueError("table must be N x 3 uint32")
        begin = table[:, 0]
        if len(begin) > 1 and bool(np.any(begin[1:] < begin[:-1])):
            table = table[np.argsort(begin, kind="stable")]
        self.begin = np.ascontiguousarray(table[:, 0])
        self.end = np.ascontiguousarray(table[:, 1])
        self.unwind_data = np.ascontiguousarray(table[:, 2])
        self._lists: Optional[Tuple[List[int], List[int], List[int]]] = None

    @classmethod
    def from_bytes(cls, raw: bytes) -> "PdataIndex":
        usable = len(raw) - len(raw) % RUNTIME_FUNCTION.sizeof()
        table = np.frombuffer(raw, dtype="<u4", count=usable // 4).reshape(-1, 3)
        # All-zero rows are linker padding; empty ranges (begin == end) are real chained stubs.
        table = table[np.any(table != 0, axis=1)] if len(table) else table
        return cls(table.astype(np.uint32))

    @classmethod
    def from_reader(cls, read_rva: ReadRva, rva: int, size: int) -> "PdataIndex":
        """From the exception data directory (``rva``, ``size``) of an image."""
        return cls.from_bytes(read_rva(rva, size))

    def __len__(self) -> int:
        return len(self.begin)

    def entry(self, index: int) -> RuntimeFunction:
        return RuntimeFunction(int(self.begin[index]), int(self.end[index]),
                               int(self.unwind_data[index]), index)

    def lookup(self, rva: int) -> Optional[RuntimeFunction]:
        """The RUNTIME_FUNCTION whose [begin, end) holds ``rva``, or None (a leaf function)."""
        # Scalar path: bisect over Python lists (made on first use) beats a numpy call's
        # ~1 us overhead per lookup; lookup_many keeps the numpy path for batches.
        if self._lists is None:
            self._lists = (self.begin.tolist(), self.end.tolist(), self.unwind_data.tolist())
        begin, end, unwind = self._lists
        i = bisect.bisect_right(begin, rva) - 1
        if i < 0 or rva >= end[i]:
            return None
        return RuntimeFunction(begin[i], end[i], unwind[i], i)

    def lookup_many(self, rvas: np.ndarray) -> np.ndarray:
        """Row index per RVA, -1 where no function covers it (vectorized ``lookup``)."""
        rvas = np.asarray(rvas, dtype=np.int64)
        i = np.searchsorted(self.begin, rvas, side="right") - 1
        ok = i >= 0
        ok[ok] = rvas[ok] < self.end[i[ok]]
        return np.where(ok, i, -1)


class ImageUnwindData:
    """The unwind data of one image: its .pdata index and a cache of decoded UNWIND_INFO."""

    def __init__(self, read_rva: ReadRva, pdata_rva: int, pdata_size: int) -> None:
        self.read_rva = read_rva
        self.index = PdataIndex.from_reader(read_rva, pdata_rva, pdata_size)
        self._infos: Dict[int, UnwindInfo] = {}

    def function_at(self, rva: int) -> Optional[RuntimeFunction]:
        entry = self.index.lookup(rva)
        depth = 0
        while entry is not None and entry.unwind_data & RUNTIME_FUNCTION_INDIRECT:
            raw = self.read_rva(entry.unwind_data & ~RUNTIME_FUNCTION_INDIRECT, 12)
            c = RUNTIME_FUNCTION.parse(raw)
            entry = RuntimeFunction(c.BeginAddress, c.EndAddress, c.UnwindData, entry.index)
            depth += 1
            if depth > MAX_CHAIN_DEPTH:
                raise CorruptInput("indirect RUNTIME_FUNCTION loop", path=f"rva {rva:#x}")
        return entry

    def unwind_info(self, rva: int) -> UnwindInfo:
        info = self._infos.get(rva)
        if info is None:
            info = self._infos[rva] = read_unwind_info(self.read_rva, rva)
        return info

    def chain(self, entry: RuntimeFunction) -> List[Tuple[RuntimeFunction, UnwindInfo]]:
        """The entry and every chained parent, in the order RtlVirtualUnwind applies them."""
        out: List[Tuple[RuntimeFunction, UnwindInfo]] = []
        seen = set()
        current: Optional[RuntimeFunction] = entry
        while current is not None:
            if current.unwind_data in seen or len(out) > MAX_CHAIN_DEPTH:
                raise CorruptInput("chained unwind info loops",
                                   path=f"unwind info at rva {current.unwind_data:#x}")
            seen.add(current.unwind_data)
            info = self.unwind_info(current.unwind_data)
            out.append((current, info))
            current = info.chained
        return out


def file_rva_reader(data: bytes) -> Tuple[ReadRva, int, int, int]:
    """(read_rva, image_base, exception_dir_rva, size) for a PE file in file layout.

    A small stand-in used by tests and benchmarks; the toolkit's PE reader offers the same
    ``read_rva`` for files and for images mapped in dump memory.
    """
    import pefile  # local: only this helper needs the container parser

    pe = pefile.PE(data=data, fast_load=True)
    directory = pe.OPTIONAL_HEADER.DATA_DIRECTORY[pefile.DIRECTORY_ENTRY[
        "IMAGE_DIRECTORY_ENTRY_EXCEPTION"]]

    def read_rva(rva: int, size: int) -> bytes:
        return pe.get_data(rva, size)

    return read_rva, pe.OPTIONAL_HEADER.ImageBase, directory.VirtualAddress, directory.Size


__all__ = ["ReadRva", "RuntimeFunction", "UnwindOp", "UnwindInfo", "read_unwind_info",
           "decode_ops", "PdataIndex", "ImageUnwindData", "file_rva_reader",
           "UNW_FLAG_EHANDLER", "UNW_FLAG_UHANDLER", "UNW_FLAG_CHAININFO"]
