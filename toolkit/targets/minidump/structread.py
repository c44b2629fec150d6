"""A minidump read with ``struct`` alone: header, stream directory and the streams ``info`` prints.

Why a second reader: ``dumpkit info`` is the first command run on a dump, and the full reader
(``MinidumpTarget``) pays for numpy (memory map), construct (layouts) and the ``minidump`` package
before it reads a byte: ~10x a bare interpreter start. This reader imports the standard library and
``toolkit.model`` only, and has one job: the values of a clean dump, exactly as the full reader
returns them. Wherever the full reader would judge something (report a problem, reject a count or
range, read an image from memory, decode a WOW64 thread or handle object information), it raises
``NeedsFullReader`` and the caller opens a ``MinidumpTarget``; so it answers as the full reader
does, or not at all.

The layouts are ``parsers/`` (construct, the spec); the offsets below are theirs, and
tests/toolkit/test_minidump_structread.py checks that both readers agree on every corpus dump and
sample. ``read_directory`` is also the full reader's directory walk (``MinidumpFile``), because a
construct parse per entry costs ~40 µs and a hostile directory holds millions of entries.
"""

from __future__ import annotations

import mmap
import os
import struct
import sys
from array import array
from bisect import bisect_right
from typing import Dict, Iterable, List, Optional, Set, Tuple, Union

from toolkit.model.debug_id import DebugId
from toolkit.model.target import (Arch, ExceptionInfo, MiscInfo, Module, Problem, Registers,
                                  SystemInfo, Thread, UnloadedModule)

THREAD_LIST, MODULE_LIST, MEMORY_LIST, EXCEPTION, SYSTEM_INFO, MEMORY64_LIST = 3, 4, 5, 6, 7, 9
HANDLE_DATA, UNLOADED_MODULE_LIST, MISC_INFO, MEMORY_INFO_LIST, THREAD_NAMES = 12, 14, 15, 16, 24

MINIDUMP_VERSION = 0xA793
MAX_STRING_BYTES = 0x10000            # toolkit.targets.minidump.file.MAX_STRING_BYTES
ARCH_BY_CODE = {0: Arch.X86, 9: Arch.AMD64, 12: Arch.ARM64}   # ARM (5) has no context layout
WOW64_DLLS = frozenset({"wow64cpu.dll", "wow64.dll"})         # ...minidump.wow64.WOW64_DLLS
CONTEXT_i386 = 0x00010000
CONTEXT_SIZES = {"x86": 716, "amd64": 1232, "arm64": 0x390}   # parsers.context layouts

_HEADER = struct.Struct("<4sHHIIIIQ")          # MINIDUMP_HEADER
_DIRECTORY = struct.Struct("<III")             # MINIDUMP_DIRECTORY: StreamType, DataSize, Rva
_THREAD = struct.Struct("<IIIIQQIIII")         # MINIDUMP_THREAD
_MODULE = struct.Struct("<QIIII")              # MINIDUMP_MODULE up to ModuleNameRva
_MODULE_SIZE = 108
_EXCEPTION = struct.Struct("<IIIIQQII15QII")   # MINIDUMP_EXCEPTION_STREAM
_UNLOADED = struct.Struct("<QIIII")            # MINIDUMP_UNLOADED_MODULE
_GPR64 = ("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
          "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")


class NeedsFullReader(Exception):
    """This dump holds something only the full reader (``MinidumpTarget``) judges."""


# MINIDUMP_STREAM_TYPE's values above the Unused/Reserved padding (parsers.minidump, the spec;
# tests/toolkit/test_minidump_structread.py pins this copy to it)
KNOWN_STREAM_TYPES = (
    3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
    0x8000, 0x8001, 0x8002, 0x8003, 0x8004, 0x8005, 0x8006, 0x8007, 0x8008, 0x8009, 0x800A,
    0x800B, 0x800C, 0xFFFF, 0xFFF0, 0x47670001, 0x47670002, 0x47670003, 0x47670004, 0x47670005,
    0x47670006, 0x47670007, 0x47670008, 0x47670009, 0x4767000A, 0x43500001,
)


def read_directory(view: memoryview, count: int, rva: int,
                   stream_types: Iterable[int] = KNOWN_STREAM_TYPES,
                   ) -> Tuple[Dict[int, Tuple[int, int, int]], Dict[int, int]]:
    """The directory entries of ``stream_types``: ({type: (index, rva, size) of its first
    entry}, {type: how many entries it has}); types absent from the directory are left out.

    Entries of other types are ignored: no reader decodes them. One pass, and memory of the
    directory's own size, however many entries there are (a hostile directory holds millions).
    The caller has checked that ``count`` entries fit in the file."""
    table = array("I")
    assert table.itemsize == 4
    table.frombytes(view[rva:rva + count * _DIRECTORY.size])
    if sys.byteorder == "big":
        table.byteswap()
    wanted = frozenset(stream_types)
    first: Dict[int, Tuple[int, int, int]] = {}
    counts: Dict[int, int] = {}
    for i, code in enumerate(table[0::3]):
        if code in wanted:
            if code in counts:
                counts[code] += 1
            else:
                counts[code] = 1
                first[code] = (i, table[3 * i + 2], table[3 * i + 1])
    return first, counts


class StructDump:
    """One dump file, mmap'd read-only; each method returns the full reader's value or raises
    ``NeedsFullReader``."""

    def __init__(self, path: Union[str, "os.PathLike[str]"]) -> None:
        with open(path, "rb") as fh:
            self.size = os.fstat(fh.fileno()).st_size
            if self.size < _HEADER.size:
                raise NeedsFullReader("shorter than a header")
            self._mmap = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        self.view = memoryview(self._mmap)
        sig, version, _, count, rva, _, self.timestamp, self.flags = _HEADER.unpack_from(self.view)
        if sig != b"MDMP" or version != MINIDUMP_VERSION or rva + count * 12 > self.size:
            raise NeedsFullReader("header")
        self.streams, counts = read_directory(self.view, count, rva)
        if any(n > 1 for n in counts.values()):
            raise NeedsFullReader("duplicate streams")

    def close(self) -> None:
        try:
            self.view.release()
            self._mmap.close()
        except BufferError:     # a slice is still referenced (a traceback's frame); GC closes it
            pass

    def __enter__(self) -> "StructDump":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- bytes ------------------------------------------------------------------------------

    def slice(self, rva: int, size: int) -> memoryview:
        if rva < 0 or size < 0 or rva + size > self.size:
            raise NeedsFullReader(f"{size:#x} bytes at {rva:#x} past the file")
        return self.view[rva:rva + size]

    def stream(self, stream_type: int) -> Optional[memoryview]:
        entry = self.streams.get(stream_type)
        return None if entry is None else self.slice(entry[1], entry[2])

    def string(self, rva: int) -> str:
        """A MINIDUMP_STRING as both decoders of the full reader agree on it: strict UTF-16,
        else the even-length prefix with replacement characters."""
        (length,) = struct.unpack("<I", self.slice(rva, 4))
        if length > MAX_STRING_BYTES:
            raise NeedsFullReader("long string")
        body = bytes(self.slice(rva + 4, length))
        try:
            return body.decode("utf-16-le")
        except UnicodeDecodeError:
            return body[:length & ~1].decode("utf-16-le", errors="replace")

    def _count(self, stream_type: int, item_size: int) -> Tuple[int, memoryview]:
        """(count, stream) of a u32-counted list, the count checked against the stream."""
        data = self.stream(stream_type)
        if data is None:
            return 0, memoryview(b"")
        if len(data) < 4:
            raise NeedsFullReader("no count")
        (count,) = struct.unpack_from("<I", data)
        if 4 + count * item_size > len(data):
            raise NeedsFullReader("count")
        return count, data

    # ---- the streams ------------------------------------------------------------------------

    def system_info(self) -> SystemInfo:
        data = self.stream(SYSTEM_INFO)
        if data is None or len(data) < 56:
            raise NeedsFullReader("SystemInfo")
        arch_code, level, revision, processors, product, major, minor, build, platform_id, \
            csd_rva = struct.unpack_from("<HHHBBIIIII", data)
        arch = ARCH_BY_CODE.get(arch_code)
        if arch is None or platform_id != 2:
            raise NeedsFullReader("not an Intel/AMD64/ARM64 Windows dump")
        vendor = None
        if arch_code in (0, 9):
            vendor = bytes(data[0x20:0x2C]).decode("latin1").strip("\0") or None
        csd = None
        if csd_rva:
            csd = self.string(csd_rva) or None
        return SystemInfo(arch=arch, platform="windows", os_major=major, os_minor=minor,
                          os_build=build, csd_version=csd, product_type=product,
                          processor_count=processors, processor_level=level,
                          processor_revision=revision,
                          cpu_vendor=vendor if vendor and vendor.isprintable() else None)

    def misc_info(self) -> Optional[MiscInfo]:
        data = self.stream(MISC_INFO)
        if data is None:
            return None
        size_of_info = struct.unpack_from("<I", data)[0] if len(data) >= 4 else 0
        if min(size_of_info, len(data)) < 24:
            raise NeedsFullReader("MiscInfo below version 1")
        flags, pid, create, user, kernel = struct.unpack_from("<IIIII", data, 4)
        times = bool(flags & 2)
        return MiscInfo(process_id=pid if flags & 1 else None,
                        process_create_time=create if times else None,
                        process_user_time=user if times else None,
                        process_kernel_time=kernel if times else None,
                        size_of_info=size_of_info)

    def context(self, arch: Arch, rva: int, size: int) -> Optional[Registers]:
        if size == 0 or rva == 0:
            return None
        data = self.slice(rva, size)
        kind = arch.value if size >= CONTEXT_SIZES[arch.value] else None
        if arch is Arch.AMD64 and kind is None and size >= CONTEXT_SIZES["x86"] and \
                struct.unpack_from("<I", data)[0] & CONTEXT_i386:
            kind = "x86"
        if kind is None:
            raise NeedsFullReader("short context")
        return Registers(Arch(kind), _registers(kind, data))

    def thread_names(self) -> Dict[int, str]:
        count, data = self._count(THREAD_NAMES, 12)
        names = {}
        for tid, rva in struct.iter_unpack("<IQ", data[4:4 + 12 * count]):
            if rva:
                names[tid] = self.string(rva)
        return names

    def threads(self, arch: Arch) -> Tuple[List[Thread], List[Problem]]:
        """The threads, and the problems the full reader notes for them (no context)."""
        names = self.thread_names()
        problems = []
        count, data = self._count(THREAD_LIST, _THREAD.size)
        out = []
        for tid, suspend, _, priority, teb, start, size, _, ctx_size, ctx_rva in \
                _THREAD.iter_unpack(data[4:4 + count * _THREAD.size]):
            regs = self.context(arch, ctx_rva, ctx_size)
            if regs is None:
                problems.append(Problem("thread.context_missing",
                                        f"thread {tid:#x} has no context"))
            out.append(Thread(tid=tid, teb=teb or None, stack_start=start if size else None,
                              stack_end=start + size if size else None, registers=regs,
                              name=names.get(tid), suspend_count=suspend, priority=priority))
        return out, problems

    def exception(self, arch: Arch) -> Optional[ExceptionInfo]:
        data = self.stream(EXCEPTION)
        if data is None:
            return None
        if len(data) < _EXCEPTION.size:
            raise NeedsFullReader("short exception stream")
        tid, _, code, flags, chain, address, n, _, *rest = _EXCEPTION.unpack_from(data)
        ctx_size, ctx_rva = rest[15], rest[16]
        if n > 15:
            raise NeedsFullReader("NumberParameters past 15")
        from toolkit.model.ntstatus import exception_name
        return ExceptionInfo(thread_id=tid, code=code, name=exception_name(code), flags=flags,
                             address=address, parameters=tuple(rest[:n]),
                             registers=self.context(arch, ctx_rva, ctx_size),
                             record_chain=chain or None)

    def modules(self) -> List[Module]:
        count, data = self._count(MODULE_LIST, _MODULE_SIZE)
        out = []
        for i in range(count):
            at = 4 + i * _MODULE_SIZE
            base, size, checksum, timestamp, name_rva = _MODULE.unpack_from(data, at)
            signature, _, version_ms, version_ls = struct.unpack_from("<IIII", data, at + 0x18)
            cv_size, cv_rva = struct.unpack_from("<II", data, at + 0x4C)
            path = self.string(name_rva)
            version = (f"{version_ms >> 16}.{version_ms & 0xFFFF}.{version_ls >> 16}."
                       f"{version_ls & 0xFFFF}") if signature == 0xFEEF04BD else None
            cv, debug_id, pdb = None, None, None
            if cv_size:
                cv = bytes(self.slice(cv_rva, cv_size))
                debug_id, pdb = _codeview(cv)
            out.append(Module(base=base, size=size, path=path, timestamp=timestamp,
                              checksum=checksum, size_of_image=size, debug_id=debug_id,
                              pdb_name=pdb, cv_record=cv, version=version,
                              debug_id_source="cv_record" if cv else None))
        return out

    def unloaded_modules(self) -> List[UnloadedModule]:
        data = self.stream(UNLOADED_MODULE_LIST)
        if data is None:
            return []
        if len(data) < 12:
            raise NeedsFullReader("short unloaded module list")
        head, step, count = struct.unpack_from("<III", data)
        if step < 24 or head < 12 or head + count * step > len(data):
            raise NeedsFullReader("unloaded module list")
        out = []
        for i in range(count):
            base, size, checksum, timestamp, name_rva = _UNLOADED.unpack_from(data, head + i * step)
            out.append(UnloadedModule(base=base, size=size, path=self.string(name_rva),
                                      timestamp=timestamp, checksum=checksum))
        return out

    def handle_count(self) -> Optional[int]:
        """How many handles the full reader lists (None without a handle stream)."""
        data = self.stream(HANDLE_DATA)
        if data is None:
            return None
        if len(data) < 16:
            raise NeedsFullReader("short handle stream")
        head, step, count = struct.unpack_from("<III", data)
        if step < 32 or head < 16 or head + count * step > len(data):
            raise NeedsFullReader("handle stream")
        for i in range(count):
            at = head + i * step
            type_rva, name_rva = struct.unpack_from("<II", data, at + 8)
            for rva in (type_rva, name_rva):
                if rva:
                    self._even_string_fits(rva)
            if step >= 40:
                self._object_info_chain(struct.unpack_from("<I", data, at + 32)[0])
        return count

    def _object_info_chain(self, rva: int) -> None:
        """Walk a handle's object information records as the full reader does (its bounds,
        ``MAX_OBJECT_INFO_CHAIN`` and ``MAX_OBJECT_INFO_PAYLOAD``); a loop or an over-long
        chain is a problem it reports."""
        seen: Set[int] = set()
        while rva:
            if rva in seen or len(seen) >= 64:
                raise NeedsFullReader("object information chain loops or is too long")
            seen.add(rva)
            next_rva, _, size = struct.unpack("<III", self.slice(rva, 12))
            self.slice(rva + 12, min(size, 0x1000))
            rva = next_rva

    def _even_string_fits(self, rva: int) -> None:
        (length,) = struct.unpack("<I", self.slice(rva, 4))
        if length > MAX_STRING_BYTES:
            raise NeedsFullReader("long string")
        self.slice(rva + 4, length & ~1)

    def memory_info_count(self) -> Optional[int]:
        data = self.stream(MEMORY_INFO_LIST)
        if data is None:
            return None
        if len(data) < 16:
            raise NeedsFullReader("short memory info list")
        head, step, count = struct.unpack_from("<IIQ", data)
        if head < 16 or step < 48 or head + count * step > len(data):
            raise NeedsFullReader("memory info list")
        return count

    def memory_ranges(self) -> Tuple[List[Tuple[int, int]], bool]:
        """(start, size) of the memory map's regions, lowest first, as ``MemoryMap`` normalises
        them (each list, then both merged), and whether ranges overlapped (the map then compares
        their bytes and may report a problem). Ranges the map would clip for wrapping or running
        past the file go to the full reader."""
        lists = [ranges for ranges in (self._memory_list(), self._memory64_list())
                 if ranges is not None]
        clipped = [_clip(ranges) for ranges in lists]
        overlapped = any(more for _, more in clipped)
        if len(clipped) == 2:
            merged, more = _clip(clipped[0][0] + clipped[1][0])
            return merged, overlapped or more
        return (clipped[0][0] if clipped else []), overlapped

    def _memory_list(self) -> Optional[List[Tuple[int, int]]]:
        data = self.stream(MEMORY_LIST)
        if data is None:
            return None
        if len(data) < 4:
            raise NeedsFullReader("short memory list")
        (count,) = struct.unpack_from("<I", data)
        if 4 + count * 16 > len(data):
            raise NeedsFullReader("memory list count")
        start = 8 if 4 + count * 16 + 4 == len(data) else 4
        return [self._checked_range(address, size, rva) for address, size, rva
                in struct.iter_unpack("<QII", data[start:start + count * 16])]

    def _memory64_list(self) -> Optional[List[Tuple[int, int]]]:
        data = self.stream(MEMORY64_LIST)
        if data is None:
            return None
        if len(data) < 16:
            raise NeedsFullReader("short memory64 list")
        count, rva = struct.unpack_from("<QQ", data)
        if 16 + count * 16 > len(data):
            raise NeedsFullReader("memory64 list count")
        out = []
        for address, size in struct.iter_unpack("<QQ", data[16:16 + count * 16]):
            out.append(self._checked_range(address, size, rva))
            rva += size
        return out

    def _checked_range(self, address: int, size: int, rva: int) -> Tuple[int, int]:
        if size and (address + size > 1 << 64 or rva + size > self.size):
            raise NeedsFullReader("memory range wraps or runs past the file")
        return address, size


def _clip(ranges: List[Tuple[int, int]]) -> Tuple[List[Tuple[int, int]], bool]:
    """``MemoryMap._normalise`` for ranges that neither wrap nor pass the file: empty ones
    dropped, stable sort by start, a range's part below the ranges before it clipped off.
    Returns the regions and whether any range was clipped."""
    out = []
    covered, overlapped = 0, False
    for start, size in sorted((r for r in ranges if r[1]), key=lambda r: r[0]):
        end = start + size
        if covered > start:
            overlapped = True
            if covered < end:
                out.append((covered, end - covered))
        else:
            out.append((start, size))
        covered = max(covered, end)
    return out, overlapped


def _registers(kind: str, data: memoryview) -> Dict[str, int]:
    """parsers.context.registers_of, for the fixed record of each layout."""
    if kind == "x86":
        (gs, fs, es, ds, edi, esi, ebx, edx, ecx, eax, ebp, eip, cs, efl, esp,
         ss) = struct.unpack_from("<16I", data, 0x8C)
        return {"eax": eax, "ebx": ebx, "ecx": ecx, "edx": edx, "esi": esi, "edi": edi,
                "ebp": ebp, "esp": esp, "eip": eip, "efl": efl, "cs": cs, "ss": ss, "ds": ds,
                "es": es, "fs": fs, "gs": gs}
    if kind == "amd64":
        mxcsr, cs, ds, es, fs, gs, ss, efl = struct.unpack_from("<I6HI", data, 0x34)
        out = dict(zip(_GPR64, struct.unpack_from("<16Q", data, 0x78)))
        out.update(rip=struct.unpack_from("<Q", data, 0xF8)[0], efl=efl, cs=cs, ss=ss, ds=ds,
                   es=es, fs=fs, gs=gs, mxcsr=mxcsr)
        return out
    cpsr = struct.unpack_from("<I", data, 4)[0]
    x = struct.unpack_from("<29Q", data, 8)
    fp, lr, sp, pc = struct.unpack_from("<4Q", data, 0xF0)
    fpcr, fpsr = struct.unpack_from("<II", data, 0x310)
    out = {f"x{i}": v for i, v in enumerate(x)}
    out.update(fp=fp, lr=lr, sp=sp, pc=pc, cpsr=cpsr, fpcr=fpcr, fpsr=fpsr)
    return out


def _codeview(cv: bytes) -> Tuple[DebugId, str]:
    """(debug id, pdb name) of an RSDS/NB10 record (parsers.codeview.parse_codeview); any other
    record is a problem the full reader reports."""
    if cv[:4] == b"RSDS" and len(cv) >= 24:
        return DebugId.from_guid_bytes(cv[4:20], struct.unpack_from("<I", cv, 20)[0]), \
            _cstr(cv[24:], "utf-8")
    if cv[:4] == b"NB10" and len(cv) >= 16:
        signature, age = struct.unpack_from("<II", cv, 8)
        return DebugId(signature, age), _cstr(cv[16:], "latin1")
    raise NeedsFullReader("CodeView record not RSDS/NB10")


def _cstr(raw: bytes, encoding: str) -> str:
    end = raw.find(b"\0")
    return (raw if end < 0 else raw[:end]).decode(encoding, errors="replace")


def contains(ranges: List[Tuple[int, int]], address: int) -> bool:
    """Whether sorted, disjoint (start, size) ``ranges`` hold ``address``."""
    i = bisect_right(ranges, (address, 1 << 65)) - 1
    return i >= 0 and address - ranges[i][0] < ranges[i][1]


__all__ = ["NeedsFullReader", "StructDump", "read_directory", "contains", "WOW64_DLLS",
           "KNOWN_STREAM_TYPES"]
