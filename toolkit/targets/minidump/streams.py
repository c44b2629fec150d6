"""Decoders from minidump streams to the Target model's values through our construct layouts.

At run time the target reads SystemInfo (Intel/AMD64 Windows), MiscInfo, ThreadList, ModuleList
entries, UnloadedModuleList and the Exception record through the ``minidump`` package
(``toolkit.targets.minidump.package``); those decoders here serve the cross-check test and the cases
the package gets wrong. Contexts, CodeView records, ThreadNames, ThreadInfoList and handles are
only decoded here (docs/minidump-notes.md says why, stream by stream).

Each takes a ``MinidumpFile`` (and where needed a problems list to append to) and returns plain
``toolkit.model.target`` values. Counts are checked against the stream size before an array is parsed,
so a forged count raises ``CorruptStream`` instead of reading past the stream or the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Set, Tuple

from construct import Array, Container, Struct
from parsers.sizes import fixed_size

from parsers.codeview import parse_codeview
from parsers.context import context_kind, registers_from_bytes
from parsers.minidump import MINIDUMP_SYSTEM_INFO, NON_WINDOWS_PLATFORMS
from parsers.minidump_handles import (HANDLE_OBJECT_PAYLOADS, MINIDUMP_HANDLE_DATA_STREAM,
                                      MINIDUMP_HANDLE_DESCRIPTOR, MINIDUMP_HANDLE_DESCRIPTOR_2,
                                      MINIDUMP_HANDLE_OBJECT_INFORMATION)
from parsers.minidump_misc import misc_info_layout
from parsers.minidump_modules import (MINIDUMP_MODULE, MINIDUMP_UNLOADED_MODULE,
                                      MINIDUMP_UNLOADED_MODULE_LIST, file_version)
from parsers.minidump_threads import (EXCEPTION_MAXIMUM_PARAMETERS,
                                      MD_BREAKPAD_INFO_VALID_DUMP_THREAD_ID, MD_RAW_BREAKPAD_INFO,
                                      MINIDUMP_EXCEPTION_STREAM, MINIDUMP_THREAD,
                                      MINIDUMP_THREAD_INFO, MINIDUMP_THREAD_INFO_LIST,
                                      MINIDUMP_THREAD_NAME)
from toolkit.model.errors import CorruptStream
from toolkit.targets.minidump.file import MinidumpFile
from toolkit.model.target import (Arch, Handle, HandleObjectInfo, MiscInfo, Module, Problem, Registers,
                            SystemInfo, UnloadedModule)

THREAD_LIST, MODULE_LIST, EXCEPTION, SYSTEM_INFO = 3, 4, 6, 7
HANDLE_DATA, UNLOADED_MODULE_LIST, MISC_INFO, THREAD_INFO_LIST, THREAD_NAMES = 12, 14, 15, 17, 24
BREAKPAD_INFO = 0x47670001

MAX_OBJECT_INFO_CHAIN = 64        # records per handle; real dumps carry one or two
MAX_OBJECT_INFO_PAYLOAD = 0x1000  # payloads larger than this are kept raw, truncated


def checked_count(f: MinidumpFile, stream_type: int, item_size: int, what: str,
                  count_size: int = 4) -> int:
    """The u32 count leading a list of ``item_size``-byte items, checked against the stream
    size (0 when the stream is absent). Both decoders call this before parsing the items, so a
    forged count is a ``CorruptStream``, never a long loop over zeros."""
    entry, data = f.entry(stream_type), f.stream(stream_type)
    if entry is None or data is None:
        return 0
    if len(data) < count_size:
        raise CorruptStream(stream_type, f"{what}: stream of {len(data)} bytes has no count")
    count = int.from_bytes(data[:4], "little")
    need = count_size + count * item_size
    if need > len(data):
        raise CorruptStream(stream_type, f"{count} {what} need {need:#x} bytes but the stream "
                            f"has {len(data):#x}", offset=entry.rva)
    return count


def counted_array(f: MinidumpFile, stream_type: int, item: Struct, what: str,
                  count_size: int = 4) -> list:
    """A u32 count followed by ``count`` fixed-size items, checked against the stream size."""
    count = checked_count(f, stream_type, fixed_size(item), what, count_size)
    if not count:
        return []
    data = f.stream(stream_type)
    assert data is not None
    need = count_size + count * fixed_size(item)
    return list(Array(count, item).parse(data[count_size:need]))


def checked_strided_header(f: MinidumpFile, stream_type: int, header: Struct, item: Struct,
                           what: str) -> Optional[Container]:
    """The SizeOfHeader/SizeOfEntry/NumberOfEntries header, checked against the stream size
    (None when the stream is absent)."""
    data = f.stream(stream_type)
    if data is None:
        return None
    if len(data) < fixed_size(header):
        raise CorruptStream(stream_type, f"{what}: stream shorter than its header")
    h = header.parse(data[:fixed_size(header)])
    if h.SizeOfEntry < fixed_size(item) or h.SizeOfHeader < fixed_size(header):
        raise CorruptStream(stream_type, f"{what}: entry size {h.SizeOfEntry:#x} is smaller "
                            f"than {fixed_size(item):#x}")
    if h.SizeOfHeader + h.NumberOfEntries * h.SizeOfEntry > len(data):
        raise CorruptStream(stream_type, f"{h.NumberOfEntries} {what} do not fit in "
                            f"{len(data):#x} bytes")
    return h


def strided_entries(f: MinidumpFile, stream_type: int, header: Struct, item: Struct,
                    what: str) -> list:
    """Entries of a SizeOfHeader/SizeOfEntry/NumberOfEntries list (they may grow in newer dumps)."""
    h = checked_strided_header(f, stream_type, header, item, what)
    if h is None:
        return []
    data = f.stream(stream_type)
    assert data is not None
    step, start, n = h.SizeOfEntry, h.SizeOfHeader, fixed_size(item)
    return [item.parse(data[start + i * step: start + i * step + n])
            for i in range(h.NumberOfEntries)]


# ---- system / misc -------------------------------------------------------------------------

ARCH_BY_CODE = {0: Arch.X86, 9: Arch.AMD64, 12: Arch.ARM64, 5: Arch.ARM}


def system_info_value(*, arch_code: int, platform_id: int, major: int, minor: int, build: int,
                      csd: Optional[str], product_type: int, processors: int, level: int,
                      revision: int, cpu_bytes: bytes) -> SystemInfo:
    """The SystemInfo for decoded MINIDUMP_SYSTEM_INFO fields, whichever decoder read them.
    ``cpu_bytes`` are the first 12 bytes of the CPU_INFORMATION union (X86CpuInfo.VendorId)."""
    platform = NON_WINDOWS_PLATFORMS.get(platform_id, "windows" if platform_id == 2 else "unknown")
    vendor = None
    if arch_code in (0, 9):            # INTEL, AMD64: the union holds the CPUID vendor string
        vendor = cpu_bytes[:12].decode("latin1").strip("\0") or None
    return SystemInfo(arch=ARCH_BY_CODE.get(arch_code, Arch.UNKNOWN), platform=platform,
                      os_major=major, os_minor=minor, os_build=build, csd_version=csd,
                      product_type=product_type, processor_count=processors,
                      processor_level=level, processor_revision=revision,
                      cpu_vendor=vendor if vendor and vendor.isprintable() else None)


def system_info_raw(f: MinidumpFile) -> Tuple[int, int]:
    """(ProcessorArchitecture, PlatformId) read straight from the stream, to choose a decoder."""
    data = f.stream(SYSTEM_INFO)
    if data is None:
        return -1, -1
    if len(data) < fixed_size(MINIDUMP_SYSTEM_INFO):
        raise CorruptStream(SYSTEM_INFO, f"{len(data)} bytes, expected "
                            f"{fixed_size(MINIDUMP_SYSTEM_INFO)}")
    return int.from_bytes(data[0:2], "little"), int.from_bytes(data[0x14:0x18], "little")


def csd_version(f: MinidumpFile, rva: int, read=None) -> Optional[str]:
    """The CSDVersion string (None when rva is 0 or empty); out of the file -> a problem."""
    if not rva:
        return None
    try:
        return (read or f.string)(rva, SYSTEM_INFO, "CSDVersion") or None
    except CorruptStream:
        f.problems.append(Problem("minidump.csd_version", "CSDVersion string is out of the file"))
        return None


def system_info(f: MinidumpFile) -> Tuple[SystemInfo, int]:
    """(SystemInfo, raw PlatformId). A dump without the stream reports an unknown arch."""
    arch_code, platform_id = system_info_raw(f)
    if arch_code < 0:
        return SystemInfo(arch=Arch.UNKNOWN, platform="unknown"), -1
    data = f.stream(SYSTEM_INFO)
    assert data is not None
    s = MINIDUMP_SYSTEM_INFO.parse(data)
    cpu = b"".join(v.to_bytes(4, "little") for v in s.Cpu.VendorId)
    info = system_info_value(arch_code=arch_code, platform_id=platform_id,
                             major=s.MajorVersion, minor=s.MinorVersion, build=s.BuildNumber,
                             csd=csd_version(f, s.CSDVersionRva),
                             product_type=int(s.ProductType), processors=s.NumberOfProcessors,
                             level=s.ProcessorLevel, revision=s.ProcessorRevision, cpu_bytes=cpu)
    return info, platform_id


def misc_info_size(f: MinidumpFile) -> Optional[int]:
    """SizeOfInfo of the MiscInfo stream (None when absent); CorruptStream below version 1."""
    data = f.stream(MISC_INFO)
    if data is None:
        return None
    size_of_info = int.from_bytes(data[:4], "little") if len(data) >= 4 else 0
    if misc_info_layout(min(size_of_info, len(data))) is None:
        raise CorruptStream(MISC_INFO, f"SizeOfInfo {size_of_info} is smaller than version 1")
    return size_of_info


def misc_info(f: MinidumpFile) -> Optional[MiscInfo]:
    """MiscInfo through our layout (run time: ``toolkit.targets.minidump.package``)."""
    size_of_info = misc_info_size(f)
    data = f.stream(MISC_INFO)
    if size_of_info is None or data is None:
        return None
    layout = misc_info_layout(min(size_of_info, len(data)))
    assert layout is not None
    m = layout.parse(data[:fixed_size(layout)])
    has_pid = bool(m.Flags1.MINIDUMP_MISC1_PROCESS_ID)
    has_times = bool(m.Flags1.MINIDUMP_MISC1_PROCESS_TIMES)
    return MiscInfo(process_id=m.ProcessId if has_pid else None,
                    process_create_time=m.ProcessCreateTime if has_times else None,
                    process_user_time=m.ProcessUserTime if has_times else None,
                    process_kernel_time=m.ProcessKernelTime if has_times else None,
                    size_of_info=size_of_info)


# ---- threads ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ThreadRecord:
    """One MINIDUMP_THREAD as plain numbers, the same whichever decoder read it."""
    tid: int
    suspend_count: int
    priority_class: int
    priority: int
    teb: int
    stack_start: int
    stack_size: int
    stack_rva: int
    context_size: int
    context_rva: int


def thread_records(f: MinidumpFile) -> list:
    """The MINIDUMP_THREAD entries as construct Containers (our layout)."""
    return counted_array(f, THREAD_LIST, MINIDUMP_THREAD, "threads")


def thread_list(f: MinidumpFile) -> List[ThreadRecord]:
    """The ThreadList through our layout (the run-time path is ``toolkit.targets.minidump.package``)."""
    return [ThreadRecord(t.ThreadId, t.SuspendCount, t.PriorityClass, t.Priority, t.Teb,
                         t.Stack.StartOfMemoryRange, t.Stack.Memory.DataSize, t.Stack.Memory.Rva,
                         t.ThreadContext.DataSize, t.ThreadContext.Rva)
            for t in thread_records(f)]


def thread_names(f: MinidumpFile) -> Dict[int, str]:
    names = {}
    for item in counted_array(f, THREAD_NAMES, MINIDUMP_THREAD_NAME, "thread names"):
        if item.RvaOfThreadName:
            names[item.ThreadId] = f.string(item.RvaOfThreadName, THREAD_NAMES, "thread name")
    return names


def thread_infos(f: MinidumpFile) -> Dict[int, object]:
    return {t.ThreadId: t for t in strided_entries(
        f, THREAD_INFO_LIST, MINIDUMP_THREAD_INFO_LIST, MINIDUMP_THREAD_INFO, "thread infos")}


def dump_thread_id(f: MinidumpFile) -> Optional[int]:
    """The thread that wrote the dump, from Breakpad's info stream (None when not stated)."""
    entry = f.entry(BREAKPAD_INFO)
    if entry is None:
        return None
    if entry.size < fixed_size(MD_RAW_BREAKPAD_INFO):
        raise CorruptStream(BREAKPAD_INFO, f"{entry.size} bytes, a Breakpad info record has "
                            f"{fixed_size(MD_RAW_BREAKPAD_INFO)}", offset=entry.rva)
    info = f.parse(MD_RAW_BREAKPAD_INFO, entry.rva, BREAKPAD_INFO, "Breakpad info")
    return info.DumpThreadId if info.Validity & MD_BREAKPAD_INFO_VALID_DUMP_THREAD_ID else None


def context(f: MinidumpFile, arch: Arch, rva: int, size: int,
            stream_type: int) -> Optional[Registers]:
    """The registers of a context record, or None when the dump has none (size 0)."""
    if size == 0 or rva == 0:
        return None
    data = f.slice(rva, size, stream_type, "thread context")
    kind = context_kind(arch.value, size, bytes(data[:4]))
    if kind is None:
        raise CorruptStream(stream_type, f"a {size}-byte context is too short for {arch.value}",
                            offset=rva)
    return Registers(Arch(kind), registers_from_bytes(kind, data))


@dataclass(frozen=True)
class ExceptionRecord:
    """The MINIDUMP_EXCEPTION_STREAM as plain numbers, the same whichever decoder read it.
    ``parameters`` holds the first NumberParameters slots (at most 15)."""
    thread_id: int
    code: int
    flags: int
    record_chain: int
    address: int
    number_parameters: int
    parameters: Tuple[int, ...]
    context_size: int
    context_rva: int


def exception_size_check(f: MinidumpFile) -> Optional[memoryview]:
    data = f.stream(EXCEPTION)
    if data is not None and len(data) < fixed_size(MINIDUMP_EXCEPTION_STREAM):
        raise CorruptStream(EXCEPTION, f"{len(data)} bytes, expected "
                            f"{fixed_size(MINIDUMP_EXCEPTION_STREAM)}")
    return data


def exception_record(f: MinidumpFile) -> Optional[ExceptionRecord]:
    """The Exception stream through our layout (run time: ``toolkit.targets.minidump.package``)."""
    data = exception_size_check(f)
    if data is None:
        return None
    record = MINIDUMP_EXCEPTION_STREAM.parse(data)
    e = record.ExceptionRecord
    n = min(e.NumberParameters, EXCEPTION_MAXIMUM_PARAMETERS)
    return ExceptionRecord(record.ThreadId, e.ExceptionCode, e.ExceptionFlags, e.ExceptionRecord,
                           e.ExceptionAddress, e.NumberParameters,
                           tuple(e.ExceptionInformation[:n]), record.ThreadContext.DataSize,
                           record.ThreadContext.Rva)


# ---- modules ---------------------------------------------------------------------------------

def module_value(f: MinidumpFile, problems: List[Problem], *, base: int, size: int,
                 checksum: int, timestamp: int, path: str, version: Optional[str],
                 cv_size: int, cv_rva: int) -> Module:
    """A Module from decoded MINIDUMP_MODULE fields; the CodeView record is always ours
    (``parsers.codeview``): the package keeps only its location."""
    cv_bytes, debug_id, pdb, source = None, None, None, None
    if cv_size:
        cv_bytes = bytes(f.slice(cv_rva, cv_size, MODULE_LIST, f"CodeView record of {path}"))
        cv = parse_codeview(cv_bytes)
        debug_id, pdb = cv.debug_id, cv.pdb_name
        source = "cv_record" if debug_id is not None else None
        if debug_id is None:
            problems.append(Problem("module.cv_unknown", f"{path}: CodeView record "
                                    f"{cv.signature!r} is not RSDS/NB10"))
    return Module(base=base, size=size, path=path, timestamp=timestamp, checksum=checksum,
                  size_of_image=size, debug_id=debug_id, pdb_name=pdb, cv_record=cv_bytes,
                  version=version, debug_id_source=source)


def modules(f: MinidumpFile, problems: List[Problem]) -> List[Module]:
    """The ModuleList through our layout (run time: ``toolkit.targets.minidump.package``)."""
    return [module_value(f, problems, base=m.BaseOfImage, size=m.SizeOfImage,
                         checksum=m.CheckSum, timestamp=m.TimeDateStamp,
                         path=f.string(m.ModuleNameRva, MODULE_LIST, "module name"),
                         version=file_version(m.VersionInfo), cv_size=m.CvRecord.DataSize,
                         cv_rva=m.CvRecord.Rva)
            for m in counted_array(f, MODULE_LIST, MINIDUMP_MODULE, "modules")]


def unloaded_modules(f: MinidumpFile) -> List[UnloadedModule]:
    rows = strided_entries(f, UNLOADED_MODULE_LIST, MINIDUMP_UNLOADED_MODULE_LIST,
                           MINIDUMP_UNLOADED_MODULE, "unloaded modules")
    return [UnloadedModule(base=u.BaseOfImage, size=u.SizeOfImage,
                           path=f.string(u.ModuleNameRva, UNLOADED_MODULE_LIST, "module name"),
                           timestamp=u.TimeDateStamp, checksum=u.CheckSum) for u in rows]


# ---- handles ---------------------------------------------------------------------------------

def handles(f: MinidumpFile, problems: List[Problem]) -> Optional[List[Handle]]:
    data = f.stream(HANDLE_DATA)
    if data is None:
        return None
    head = MINIDUMP_HANDLE_DATA_STREAM
    if len(data) < head.sizeof():
        raise CorruptStream(HANDLE_DATA, "stream shorter than its 16-byte header")
    h = head.parse(data[:head.sizeof()])
    layout = MINIDUMP_HANDLE_DESCRIPTOR_2 if h.SizeOfDescriptor >= 40 else MINIDUMP_HANDLE_DESCRIPTOR
    if h.SizeOfDescriptor < 32 or h.SizeOfHeader < head.sizeof():
        raise CorruptStream(HANDLE_DATA, f"descriptor size {h.SizeOfDescriptor} is below 32")
    if h.SizeOfHeader + h.NumberOfDescriptors * h.SizeOfDescriptor > len(data):
        raise CorruptStream(HANDLE_DATA, f"{h.NumberOfDescriptors} descriptors do not fit in "
                            f"{len(data):#x} bytes")
    out = []
    for i in range(h.NumberOfDescriptors):
        at = h.SizeOfHeader + i * h.SizeOfDescriptor
        d = layout.parse(data[at:at + fixed_size(layout)])
        type_name = f.string(d.TypeNameRva, HANDLE_DATA, "handle type") if d.TypeNameRva else None
        obj_name = f.string(d.ObjectNameRva, HANDLE_DATA, "object name") if d.ObjectNameRva else None
        infos = object_info_chain(f, getattr(d, "ObjectInfoRva", 0), problems, d.Handle)
        out.append(Handle(handle=d.Handle, type_name=type_name, object_name=obj_name or None,
                          attributes=d.Attributes, granted_access=d.GrantedAccess,
                          handle_count=d.HandleCount, pointer_count=d.PointerCount,
                          object_info=tuple(infos)))
    return out


def object_info_chain(f: MinidumpFile, rva: int, problems: List[Problem],
                      handle: int) -> List[HandleObjectInfo]:
    """Follow NextInfoRva to the end, stopping on a cycle or after MAX_OBJECT_INFO_CHAIN."""
    seen: Set[int] = set()
    out: List[HandleObjectInfo] = []
    while rva:
        if rva in seen or len(out) >= MAX_OBJECT_INFO_CHAIN:
            problems.append(Problem("handle.info_chain", f"handle {handle:#x}: object "
                                    "information chain loops or is too long; cut"))
            break
        seen.add(rva)
        rec = f.parse(MINIDUMP_HANDLE_OBJECT_INFORMATION, rva, HANDLE_DATA, "object information")
        size = min(rec.SizeOfInfo, MAX_OBJECT_INFO_PAYLOAD)
        payload = bytes(f.slice(rva + 12, size, HANDLE_DATA, "object information payload"))
        info_type = str(rec.InfoType) if not isinstance(rec.InfoType, int) \
            else f"{int(rec.InfoType):#x}"
        layout = HANDLE_OBJECT_PAYLOADS.get(info_type)
        if layout is not None and rec.SizeOfInfo == fixed_size(layout):
            fields = {k: v for k, v in layout.parse(payload).items() if not k.startswith("_")}
            out.append(HandleObjectInfo(info_type, fields, payload, layout="inferred"))
        else:
            out.append(HandleObjectInfo(info_type, {}, payload, layout="raw"))
        rva = rec.NextInfoRva
    return out


__all__ = [
    "checked_count", "counted_array", "checked_strided_header", "strided_entries",
    "system_info_value", "system_info_raw", "csd_version", "system_info", "misc_info_size",
    "misc_info",
    "ThreadRecord", "thread_records", "thread_list", "thread_names", "thread_infos", "dump_thread_id", "context",
    "ExceptionRecord", "exception_size_check", "exception_record", "module_value", "modules",
    "unloaded_modules", "handles", "object_info_chain",
]
