"""Trace files: write what a tracer stores (module table + address events), read it back fast.

The layout is parsers/trace.py (documented in docs/trace-format.md). Module records carry the
MODLOAD_DATA debug blob, so ``TraceModule.to_module()`` yields a ``toolkit.model.target.Module`` with
the CodeView debug id and PDB name: symbolizing a trace needs only the trace and a symbol path,
not the traced binaries. Event blocks are read column-wise with ``numpy.frombuffer`` (a Python
loop over a million construct records would take seconds); every count is checked against the
record size first, so a corrupt file cannot make the reader allocate more than the file holds.
"""

from __future__ import annotations

import functools
import os
import struct
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterable, List, Optional, Sequence, Tuple

import numpy as np
from construct import ConstructError

from parsers.trace import (
    IMAGE_FILE_MACHINE, TRACE_FILE_HEADER, TRACE_FILE_HEADER_SIZE, TRACE_MAGIC, TRACE_MODULE,
    TRACE_RECORD, TRACE_RECORD_HEADER, TRACE_RECORD_HEADER_SIZE, TRACE_RECORD_TYPE, TRACE_VERSION,
)
from toolkit.model.errors import CorruptInput, InputError
from toolkit.model.target import Module, Problem, fits_address_space

_EVENTS_FIXED = 8
_RECORD_HEAD = struct.Struct("<HHI")     # Type, Flags, Size
_EVENTS_HEAD = struct.Struct("<II")      # EventCount, AddressCount
_RECORD_MODULE = TRACE_RECORD_TYPE["TRACE_RECORD_MODULE"]
_RECORD_EVENTS = TRACE_RECORD_TYPE["TRACE_RECORD_EVENTS"]


@dataclass(frozen=True)
class TraceModule:
    """One module-table row: where the image was mapped and its stored debug blob."""

    name: str
    base: int
    size: int
    timestamp: int
    size_of_image: int
    checksum: int = 0
    debug_blob: bytes = b""

    def to_module(self) -> Module:
        """The Target model's Module, with debug id and PDB name decoded from the blob."""
        debug_id, pdb_name, cv = _codeview_of(self.debug_blob) if self.debug_blob else \
            (None, None, None)
        return Module(self.base, self.size, self.name, self.timestamp, self.checksum,
                      self.size_of_image, debug_id, pdb_name, cv,
                      debug_id_source="cv_record" if debug_id else None)


_DEBUG_ENTRY = struct.Struct("<12xII4xI")   # Type +0x0C, SizeOfData +0x10, PointerToRawData +0x18
_CODEVIEW = 2                                # IMAGE_DEBUG_TYPE_CODEVIEW


@functools.lru_cache(maxsize=4096)           # a trace reloading one DLL repeats its blob
def _codeview_of(blob: bytes) -> Tuple[Any, Optional[str], Optional[bytes]]:
    """(debug id, PDB name, CodeView payload) of the first CodeView entry with an id, as
    ``parse_debug_blob`` reads the blob (any payload outside it: no entries at all).

    Why struct and not the construct definition: a trace may hold 300k module records, and
    construct's parse of each blob cost more than the rest of reading the trace."""
    from parsers.codeview import parse_codeview
    from parsers.modload_data import IMAGE_DEBUG_DIRECTORY_SIZE, MAX_BLOB_ENTRIES, entry_count

    count = entry_count(blob)
    if count > MAX_BLOB_ENTRIES or count * IMAGE_DEBUG_DIRECTORY_SIZE > len(blob):
        return None, None, None
    payloads = []
    for i in range(count):
        kind, size, pointer = _DEBUG_ENTRY.unpack_from(blob, i * IMAGE_DEBUG_DIRECTORY_SIZE)
        start = i * IMAGE_DEBUG_DIRECTORY_SIZE + pointer
        if size and start + size > len(blob):
            return None, None, None
        payloads.append((kind, blob[start:start + size] if size else b""))
    for kind, payload in payloads:
        if kind == _CODEVIEW and payload:
            info = parse_codeview(payload)
            if info.debug_id is not None:
                return info.debug_id, info.pdb_name, payload
    return None, None, None


@dataclass(frozen=True)
class TraceEvents:
    """All events, column-wise. Event i owns ``addresses[offsets[i]:offsets[i] + counts[i]]``."""

    timestamps: np.ndarray       # uint64
    thread_ids: np.ndarray       # uint32
    counts: np.ndarray           # uint32
    addresses: np.ndarray        # uint64

    @classmethod
    def from_rows(cls, timestamps: Sequence[int], thread_ids: Sequence[int],
                  addresses: Sequence[Sequence[int]]) -> "TraceEvents":
        """Events given row by row (one address list per event), as columns."""
        return cls(np.asarray(timestamps, dtype=np.uint64),
                   np.asarray(thread_ids, dtype=np.uint32),
                   np.array([len(a) for a in addresses], dtype=np.uint32),
                   np.array([x for a in addresses for x in a], dtype=np.uint64))

    def __len__(self) -> int:
        return len(self.timestamps)

    @property
    def offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.counts, dtype=np.int64)[:-1]]) \
            if len(self.counts) else np.zeros(0, dtype=np.int64)

    def event_of_address(self) -> np.ndarray:
        """For each entry of ``addresses``, the index of the event it belongs to."""
        return np.repeat(np.arange(len(self.counts), dtype=np.int64), self.counts)


@dataclass(frozen=True)
class Trace:
    machine: str
    pointer_size: int
    start_time: int
    modules: Tuple[TraceModule, ...]
    events: TraceEvents
    problems: Tuple[Problem, ...] = ()


def is_trace(path: Path) -> bool:
    """True when the file starts with the trace magic (how ``symbolize`` tells inputs apart)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(len(TRACE_MAGIC)) == TRACE_MAGIC
    except OSError:
        return False


def read_trace(path: Path) -> Trace:
    """Parse a whole trace; CorruptInput (with the file offset) on any inconsistency."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size < TRACE_FILE_HEADER_SIZE:
            raise CorruptInput("file is too small to be a dumpkit trace", path=str(path))
        # One read, not mmap: numpy views and exception tracebacks may outlive the call, and
        # a mapping cannot close while views exist. The copy is bounded by the file size.
        data = fh.read()
    return _parse(memoryview(data), str(path))


def _parse(buf: memoryview, where: str) -> Trace:
    try:
        header = TRACE_FILE_HEADER.parse(bytes(buf[:TRACE_FILE_HEADER_SIZE]))
    except ConstructError:
        raise InputError(f"{where} is not a dumpkit trace (bad magic)") from None
    if header.Version > TRACE_VERSION:
        raise InputError(f"{where} is trace format version {header.Version}; "
                         f"this dumpkit reads version {TRACE_VERSION}")
    if header.HeaderSize < TRACE_FILE_HEADER_SIZE or header.PointerSize not in (4, 8):
        raise CorruptInput("bad trace header", offset=0, path=where)
    modules: List[TraceModule] = []
    blocks = array("Q")          # offsets of non-empty event blocks (8 bytes per >= 32-byte one)
    block_sizes = array("I")     # their N and A, interleaved
    problems: List[Problem] = []
    pos = header.HeaderSize
    while pos < len(buf):
        if pos + TRACE_RECORD_HEADER_SIZE > len(buf):
            raise CorruptInput("truncated record header", offset=pos, path=where)
        rtype, _flags, rsize = _RECORD_HEAD.unpack_from(buf, pos)
        body_at = pos + TRACE_RECORD_HEADER_SIZE
        if body_at + rsize > len(buf):
            raise CorruptInput(f"record of {rsize:#x} bytes runs past the end of the file",
                               offset=pos, path=where)
        if rtype == _RECORD_EVENTS:     # first: the one record type a file holds millions of
            n, total = _check_events(buf, body_at, rsize, where)
            if n or total:       # empty blocks (N = A = 0) hold nothing and cost nothing
                blocks.append(body_at)
                block_sizes.extend((n, total))
        elif rtype == _RECORD_MODULE:
            module = _module(buf[body_at:body_at + rsize], body_at, where)
            if fits_address_space(module.base, module.size):
                modules.append(module)
            else:
                problems.append(Problem("module.out_of_range",
                                        f"{module.name}: base {module.base:#x} + size "
                                        f"{module.size:#x} at {pos:#x} is outside the 64-bit "
                                        "address space; module ignored"))
        else:
            problems.append(Problem("trace-unknown-record",
                                    f"skipped record type {rtype} at {pos:#x}"))
        pos = body_at + rsize
    machine = str(header.Machine)
    return Trace(machine, header.PointerSize, header.StartTime, tuple(modules),
                 _gather_events(buf, blocks, block_sizes, where), tuple(problems))


_MODULE_FIXED = struct.Struct("<QIIIIHHI")    # TRACE_MODULE up to Name (0x20 bytes)


def _module(body: memoryview, offset: int, where: str) -> TraceModule:
    # struct for the usual record (a trace may hold 300k); construct, which defines the
    # layout, for the rest, so odd records fail or decode exactly as it says.
    if len(body) >= _MODULE_FIXED.size:
        base, size, stamp, image_size, checksum, name_len, _res, blob_len = \
            _MODULE_FIXED.unpack_from(body)
        name_end = _MODULE_FIXED.size + name_len
        raw = bytes(body[_MODULE_FIXED.size:name_end])
        if name_len % 2 == 0 and not raw.endswith(b"\0\0") and \
                name_end + blob_len <= len(body):
            try:
                name = raw.decode("utf-16-le")
            except UnicodeDecodeError:
                pass
            else:
                return TraceModule(name, base, size, stamp, image_size, checksum,
                                   bytes(body[name_end:name_end + blob_len]))
    try:
        rec = TRACE_MODULE.parse(bytes(body))
    except (ConstructError, UnicodeDecodeError) as exc:
        raise CorruptInput(f"bad module record: {exc}", offset=offset, path=where) from None
    return TraceModule(rec.Name, rec.BaseOfImage, rec.SizeOfMapping, rec.TimeDateStamp,
                       rec.SizeOfImage, rec.CheckSum, bytes(rec.DebugBlob))


def _check_events(buf: memoryview, offset: int, size: int, where: str) -> Tuple[int, int]:
    """(N, A) of the event block of ``size`` bytes at ``offset`` whose fixed part and size
    agree (``Size == 8 + 16N + 8A``)."""
    if size < _EVENTS_FIXED:
        raise CorruptInput("truncated event block", offset=offset, path=where)
    n, total = _EVENTS_HEAD.unpack_from(buf, offset)
    if _EVENTS_FIXED + 16 * n + 8 * total != size:
        raise CorruptInput(f"event block sizes disagree ({n} events, {total} addresses, "
                           f"{size} bytes)", offset=offset, path=where)
    if n == 0 and total:
        raise CorruptInput(f"event block of no events holds {total} addresses",
                           offset=offset, path=where)
    return n, total


def _gather_events(buf: memoryview, blocks: "array[int]", block_sizes: "array[int]",
                   where: str) -> TraceEvents:
    """All event blocks' columns, copied once into arrays sized from the blocks themselves.

    Why two passes and byte copies rather than numpy arrays per block: a million tiny blocks
    would cost four array objects each (1.45 GB for a 16 MB file); here the columns hold the
    blocks' bytes after their 16-byte headers and the index 16 bytes per non-empty block, so
    together no more than the file (docs/trace-format.md's promise)."""
    sizes = np.frombuffer(block_sizes, dtype=np.uint32).reshape(-1, 2)
    n_all, a_all = (int(x) for x in sizes.sum(axis=0, dtype=np.int64)) if len(sizes) else (0, 0)
    ts, tid = bytearray(8 * n_all), bytearray(4 * n_all)
    cnt, addrs = bytearray(4 * n_all), bytearray(8 * a_all)
    e = a = 0
    for i, at in enumerate(blocks):
        n, total = block_sizes[2 * i], block_sizes[2 * i + 1]
        body = at + _EVENTS_FIXED
        if _count_sum(buf, body + 12 * n, n) != total:
            raise CorruptInput("event address counts do not sum to the block's AddressCount",
                               offset=at, path=where)
        ts[8 * e:8 * (e + n)] = buf[body:body + 8 * n]
        tid[4 * e:4 * (e + n)] = buf[body + 8 * n:body + 12 * n]
        cnt[4 * e:4 * (e + n)] = buf[body + 12 * n:body + 16 * n]
        addrs[8 * a:8 * (a + total)] = buf[body + 16 * n:body + 16 * n + 8 * total]
        e, a = e + n, a + total
    return TraceEvents(np.frombuffer(ts, dtype="<u8"), np.frombuffer(tid, dtype="<u4"),
                       np.frombuffer(cnt, dtype="<u4"), np.frombuffer(addrs, dtype="<u8"))


def _count_sum(buf: memoryview, at: int, n: int) -> int:
    """The sum of ``n`` u32 counts at ``at`` (struct for the usual few, numpy for many)."""
    if n <= 16:
        return sum(struct.unpack_from(f"<{n}I", buf, at))
    return int(np.frombuffer(buf, dtype="<u4", count=n, offset=at).sum(dtype=np.int64))


class TraceWriter:
    """Writes a trace: the header at once, then module records and event blocks as they come."""

    def __init__(self, fh: BinaryIO, *, machine: str = "IMAGE_FILE_MACHINE_UNKNOWN",
                 pointer_size: int = 8, start_time: int = 0) -> None:
        if machine not in IMAGE_FILE_MACHINE:
            raise ValueError(f"unknown machine {machine}")
        self.fh = fh
        fh.write(TRACE_FILE_HEADER.build(dict(
            Version=TRACE_VERSION, HeaderSize=TRACE_FILE_HEADER_SIZE, Machine=machine,
            PointerSize=pointer_size, Reserved0=0, StartTime=start_time, Reserved1=bytes(8))))

    def add_module(self, module: TraceModule) -> None:
        name = module.name.encode("utf-16-le")
        try:     # struct for speed (300k-module traces); the same bytes as TRACE_RECORD builds
            fixed = _MODULE_FIXED.pack(module.base, module.size, module.timestamp,
                                       module.size_of_image, module.checksum, len(name), 0,
                                       len(module.debug_blob))
        except struct.error:
            pass     # out of range: construct's build says why
        else:
            body_size = len(fixed) + len(name) + len(module.debug_blob)
            self.fh.write(b"".join((_RECORD_HEAD.pack(_RECORD_MODULE, 0, body_size), fixed,
                                    name, module.debug_blob)))
            return
        self.fh.write(TRACE_RECORD.build(dict(Type="TRACE_RECORD_MODULE", Flags=0, Body=dict(
            BaseOfImage=module.base, SizeOfMapping=module.size, TimeDateStamp=module.timestamp,
            SizeOfImage=module.size_of_image, CheckSum=module.checksum, NameLength=len(name),
            Reserved=0, DebugBlobSize=len(module.debug_blob), Name=module.name,
            DebugBlob=module.debug_blob))))

    def add_events(self, timestamps: Sequence[int], thread_ids: Sequence[int],
                   addresses: Sequence[Sequence[int]]) -> None:
        """One event block; written with numpy in TRACE_EVENTS's layout (see parsers/trace.py)."""
        events = TraceEvents.from_rows(timestamps, thread_ids, addresses)
        self.add_event_arrays(events.timestamps, events.thread_ids, events.counts,
                              events.addresses)

    def add_event_arrays(self, timestamps: np.ndarray, thread_ids: np.ndarray,
                         counts: np.ndarray, addresses: np.ndarray) -> None:
        n, total = len(timestamps), len(addresses)
        if not (len(thread_ids) == len(counts) == n) or int(np.sum(counts)) != total:
            raise ValueError("event columns disagree in length")
        body = b"".join([struct.pack("<II", n, total),
                         np.asarray(timestamps, "<u8").tobytes(),
                         np.asarray(thread_ids, "<u4").tobytes(),
                         np.asarray(counts, "<u4").tobytes(),
                         np.asarray(addresses, "<u8").tobytes()])
        self.fh.write(TRACE_RECORD_HEADER.build(dict(Type="TRACE_RECORD_EVENTS", Flags=0,
                                                     Size=len(body))))
        self.fh.write(body)


def capture_module(path: Path, base: Optional[int] = None) -> Tuple[TraceModule, str]:
    """A module record for a PE file, as a tracer would store it at load time.

    Returns the record and the image's machine name. ``base`` defaults to the preferred
    ImageBase. The debug blob holds every debug directory entry with its payload.
    """
    from toolkit.targets.pe.image import PeImage
    from toolkit.targets.pe.report import debug_blob

    try:
        image = PeImage.from_file(path)
    except InputError as exc:
        raise InputError(f"{path} is not a PE image: {exc}") from None
    machine = next((k for k, v in IMAGE_FILE_MACHINE.items() if v == image.machine),
                   "IMAGE_FILE_MACHINE_UNKNOWN")
    module = TraceModule(
        name=path.name, base=image.image_base if base is None else base,
        size=image.size_of_image, timestamp=image.timestamp, size_of_image=image.size_of_image,
        checksum=image.checksum,
        debug_blob=debug_blob(image) if image.debug_entries else b"")
    return module, machine


def write_trace(path: Path, modules: Iterable[TraceModule], events: Optional[TraceEvents] = None,
                *, machine: str = "IMAGE_FILE_MACHINE_UNKNOWN", pointer_size: int = 8) -> None:
    """Write a whole trace at once (temp file + rename, so a reader never sees half of it)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        writer = TraceWriter(fh, machine=machine, pointer_size=pointer_size)
        for module in modules:
            writer.add_module(module)
        if events is not None and len(events):
            writer.add_event_arrays(events.timestamps, events.thread_ids, events.counts,
                                    events.addresses)
    os.replace(tmp, path)


__all__ = ["TraceModule", "TraceEvents", "Trace", "TraceWriter", "is_trace", "read_trace",
           "capture_module", "write_trace"]
