"""The streams the ``minidump`` package (skelsec, 0.0.24) decodes correctly, read through it.

The package's file-level ``MinidumpFile.parse`` aborts on any stream type missing from its enum
(Wine's 0xFFF0), so its per-stream classes are called here on our own directory entries, over a
file object on our mmap. What it decodes right on every corpus Windows dump and sample
(``tests/toolkit/test_minidump_package_crosscheck.py``), and what this module takes from it:

* SystemInfo (``MINIDUMP_SYSTEM_INFO`` + ``MINIDUMP_STRING`` for CSDVersion) for Intel/AMD64
  Windows dumps; ARM64 (12) and Breakpad's 0x8000 platform id make its enums raise, so those,
  and every non-Windows platform id, stay ours;
* MiscInfo (``MinidumpMiscInfo``): ProcessId and the process times;
* ThreadList (``MinidumpThreadList``): every MINIDUMP_THREAD field; the contexts stay ours;
* ModuleList (``MINIDUMP_MODULE_LIST`` + names): every field but the CodeView record, which
  ``MinidumpModule`` drops; we decode it from the location the list keeps;
* UnloadedModuleList (``MINIDUMP_UNLOADED_MODULE``) when entries are the documented 24 bytes
  apart (the package ignores SizeOfHeader/SizeOfEntry; other strides stay ours);
* Exception (``MINIDUMP_EXCEPTION_STREAM``): one record, as the stream holds (``ExceptionList``
  guesses more records from padding); the context stays ours.

Counts and sizes are checked with our own code first (``streams.checked_count`` …): the
package reads short data as zeros and loops on any count. Any exception it raises becomes a
``CorruptStream`` naming the stream, so callers see the same errors as with our layouts.
"""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Callable, List, Optional, Tuple, TypeVar

from minidump.common_structs import MINIDUMP_STRING
from minidump.streams.ExceptionStream import MINIDUMP_EXCEPTION_STREAM
from minidump.streams.MiscInfoStream import MinidumpMiscInfo
from minidump.streams.ModuleListStream import MINIDUMP_MODULE_LIST
from minidump.streams.SystemInfoStream import MINIDUMP_SYSTEM_INFO
from minidump.streams.ThreadListStream import MinidumpThreadList
from minidump.streams.UnloadedModuleListStream import MINIDUMP_UNLOADED_MODULE

from parsers.minidump_modules import (MINIDUMP_MODULE, MINIDUMP_UNLOADED_MODULE as OUR_UNLOADED,
                                      MINIDUMP_UNLOADED_MODULE_LIST, file_version)
from toolkit.targets.minidump import streams as ours
from toolkit.model.errors import CorruptStream
from toolkit.targets.minidump.file import MAX_STRING_BYTES, MinidumpFile
from toolkit.targets.minidump.streams import (EXCEPTION, MISC_INFO, MODULE_LIST, SYSTEM_INFO, THREAD_LIST,
                                      UNLOADED_MODULE_LIST, ExceptionRecord, ThreadRecord)
from toolkit.model.target import MiscInfo, Module, Problem, SystemInfo, UnloadedModule

T = TypeVar("T")
STRING_DECODE_FAILED = "<STRING_DECODE_FAILED>"   # the package's stand-in for bad UTF-16
PACKAGE_ARCHES = (0, 9)                           # PROCESSOR_ARCHITECTURE_INTEL, _AMD64
VER_PLATFORM_WIN32_NT = 2


class DumpReader:
    """A read-only file object over the dump for the package's ``parse(dir, buff)`` calls.

    Reads are bounds-checked: past the end of the file, or longer than a 64 KiB string unless
    it is the whole stream, is a ``CorruptStream`` (the package would read short data as zeros,
    or a forged string length up to the end of the file)."""

    def __init__(self, f: MinidumpFile, stream_type: int) -> None:
        self.f, self.stream_type, self.pos = f, stream_type, 0
        entry = f.entry(stream_type)
        self.whole = (entry.rva, entry.size) if entry else None

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = offset if whence == 0 else self.pos + offset if whence == 1 \
            else self.f.size + offset
        return self.pos

    def tell(self) -> int:
        return self.pos

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0 or \
                (size > MAX_STRING_BYTES and (self.pos, size) != self.whole):
            raise CorruptStream(self.stream_type, f"a read of {size} bytes at {self.pos:#x} "
                                "is longer than the stream or a string", offset=self.pos)
        data = bytes(self.f.slice(self.pos, size, self.stream_type, "data"))
        self.pos += size
        return data

    def string(self, rva: int, stream_type: int, what: str = "string") -> str:
        """A MINIDUMP_STRING through the package; our decoder when the package gives up on
        the UTF-16 (it returns a fixed stand-in where ours keeps the readable characters)."""
        text = MINIDUMP_STRING.get_from_rva(rva, self)
        return self.f.string(rva, stream_type, what) if text == STRING_DECODE_FAILED else text


def _directory(f: MinidumpFile, stream_type: int) -> SimpleNamespace:
    entry = f.entry(stream_type)
    assert entry is not None
    return SimpleNamespace(Location=SimpleNamespace(Rva=entry.rva, DataSize=entry.size))


def _stream(f: MinidumpFile, stream_type: int) -> io.BytesIO:
    data = f.stream(stream_type)
    assert data is not None
    return io.BytesIO(bytes(data))


def guarded(stream_type: int, decode: Callable[[], T]) -> T:
    """Run a package decode; anything it raises becomes a one-line CorruptStream."""
    try:
        return decode()
    except CorruptStream:
        raise
    except Exception as exc:   # the package raises ValueError, KeyError, struct errors...
        raise CorruptStream(stream_type, f"minidump package: {type(exc).__name__}: {exc}") \
            from None


# ---- system / misc ---------------------------------------------------------------------------

def decodes_system_info(f: MinidumpFile) -> bool:
    """Whether the package's enums accept this SystemInfo: Intel/AMD64 on Windows NT with a
    ProductType of 0..3 (other values make its PROCESSOR_ARCHITECTURE, PLATFORM_ID or
    PRODUCT_TYPE enum raise, where ours passes the number through)."""
    arch_code, platform_id = ours.system_info_raw(f)
    data = f.stream(SYSTEM_INFO)
    return arch_code in PACKAGE_ARCHES and platform_id == VER_PLATFORM_WIN32_NT and \
        data is not None and data[7] <= 3


def system_info(f: MinidumpFile) -> Tuple[SystemInfo, int]:
    """(SystemInfo, PlatformId): the package's decode where it can, ours otherwise."""
    if not decodes_system_info(f):
        return ours.system_info(f)
    reader = DumpReader(f, SYSTEM_INFO)

    def decode() -> Tuple[SystemInfo, int]:
        s = MINIDUMP_SYSTEM_INFO.parse(_stream(f, SYSTEM_INFO))
        if s.ProcessorArchitecture.value == 0:
            cpu = b"".join(v.to_bytes(4, "little") for v in s.VendorId)
        else:                  # AMD64: the package reads the union as OtherCpuInfo
            cpu = b"".join(v.to_bytes(8, "little") for v in s.ProcessorFeatures)
        platform_id = s.PlatformId.value
        info = ours.system_info_value(
            arch_code=s.ProcessorArchitecture.value, platform_id=platform_id,
            major=s.MajorVersion, minor=s.MinorVersion, build=s.BuildNumber,
            csd=ours.csd_version(f, s.CSDVersionRva, reader.string),
            product_type=s.ProductType.value, processors=s.NumberOfProcessors,
            level=s.ProcessorLevel, revision=s.ProcessorRevision, cpu_bytes=cpu)
        return info, platform_id
    return guarded(SYSTEM_INFO, decode)


def misc_info(f: MinidumpFile) -> Optional[MiscInfo]:
    size_of_info = ours.misc_info_size(f)
    if size_of_info is None:
        return None
    m = guarded(MISC_INFO, lambda: MinidumpMiscInfo.parse(_directory(f, MISC_INFO),
                                                         DumpReader(f, MISC_INFO)))
    return MiscInfo(process_id=m.ProcessId, process_create_time=m.ProcessCreateTime,
                    process_user_time=m.ProcessUserTime, process_kernel_time=m.ProcessKernelTime,
                    size_of_info=size_of_info)


# ---- threads / exception ---------------------------------------------------------------------

def thread_list(f: MinidumpFile) -> List[ThreadRecord]:
    if not ours.checked_count(f, THREAD_LIST, 0x30, "threads"):
        return []
    parsed = guarded(THREAD_LIST, lambda: MinidumpThreadList.parse(
        _directory(f, THREAD_LIST), DumpReader(f, THREAD_LIST)))
    return [ThreadRecord(t.ThreadId, t.SuspendCount, t.PriorityClass, t.Priority, t.Teb,
                         t.Stack.StartOfMemoryRange, t.Stack.DataSize, t.Stack.Rva,
                         t.ThreadContext.DataSize, t.ThreadContext.Rva)
            for t in parsed.threads]


def exception_record(f: MinidumpFile) -> Optional[ExceptionRecord]:
    if ours.exception_size_check(f) is None:
        return None
    r = guarded(EXCEPTION, lambda: MINIDUMP_EXCEPTION_STREAM.parse(_stream(f, EXCEPTION)))
    e = r.ExceptionRecord
    return ExceptionRecord(r.ThreadId, e.ExceptionCode_raw, e.ExceptionFlags, e.ExceptionRecord,
                           e.ExceptionAddress, e.NumberParameters,
                           tuple(e.ExceptionInformation), r.ThreadContext.DataSize,
                           r.ThreadContext.Rva)


# ---- modules ---------------------------------------------------------------------------------

def modules(f: MinidumpFile, problems: List[Problem]) -> List[Module]:
    if not ours.checked_count(f, MODULE_LIST, MINIDUMP_MODULE.sizeof(), "modules"):
        return []
    reader = DumpReader(f, MODULE_LIST)
    listed = guarded(MODULE_LIST, lambda: MINIDUMP_MODULE_LIST.parse(_stream(f, MODULE_LIST)))
    out = []
    for m in listed.Modules:
        path = guarded(MODULE_LIST, lambda: reader.string(m.ModuleNameRva, MODULE_LIST,
                                                          "module name"))
        out.append(ours.module_value(f, problems, base=m.BaseOfImage, size=m.SizeOfImage,
                                     checksum=m.CheckSum, timestamp=m.TimeDateStamp, path=path,
                                     version=file_version(m.VersionInfo),
                                     cv_size=m.CvRecord.DataSize, cv_rva=m.CvRecord.Rva))
    return out


def unloaded_modules(f: MinidumpFile) -> List[UnloadedModule]:
    h = ours.checked_strided_header(f, UNLOADED_MODULE_LIST, MINIDUMP_UNLOADED_MODULE_LIST,
                                    OUR_UNLOADED, "unloaded modules")
    if h is None:
        return []
    if (h.SizeOfHeader, h.SizeOfEntry) != (12, OUR_UNLOADED.sizeof()):
        return ours.unloaded_modules(f)      # the package steps 24 bytes after a 12-byte header
    chunk = _stream(f, UNLOADED_MODULE_LIST)
    chunk.seek(12)
    reader = DumpReader(f, UNLOADED_MODULE_LIST)
    out = []
    for _ in range(h.NumberOfEntries):
        u = guarded(UNLOADED_MODULE_LIST, lambda: MINIDUMP_UNLOADED_MODULE.parse(chunk))
        path = guarded(UNLOADED_MODULE_LIST, lambda: reader.string(
            u.ModuleNameRva, UNLOADED_MODULE_LIST, "module name"))
        out.append(UnloadedModule(base=u.BaseOfImage, size=u.SizeOfImage, path=path,
                                  timestamp=u.TimeDateStamp, checksum=u.CheckSum))
    return out


__all__ = [
    "DumpReader", "guarded", "decodes_system_info", "system_info", "misc_info", "thread_list",
    "exception_record", "modules", "unloaded_modules",
]
