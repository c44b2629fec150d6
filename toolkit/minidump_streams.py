"""Decoders from minidump streams to the Target model's values, one function per stream.

Each takes a ``MinidumpFile`` (and where needed a problems list to append to) and returns plain
``toolkit.target`` values. Counts are checked against the stream size before an array is parsed,
so a forged count raises ``CorruptStream`` instead of reading past the stream or the file.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Set, Tuple

from construct import Array, Struct

from parsers.codeview import parse_codeview
from parsers.context import CONTEXT_LAYOUTS, context_kind, registers_of
from parsers.minidump import MINIDUMP_SYSTEM_INFO, NON_WINDOWS_PLATFORMS
from parsers.minidump_handles import (HANDLE_OBJECT_PAYLOADS, MINIDUMP_HANDLE_DATA_STREAM,
                                      MINIDUMP_HANDLE_DESCRIPTOR, MINIDUMP_HANDLE_DESCRIPTOR_2,
                                      MINIDUMP_HANDLE_OBJECT_INFORMATION)
from parsers.minidump_misc import misc_info_layout
from parsers.minidump_modules import (MINIDUMP_MODULE, MINIDUMP_UNLOADED_MODULE,
                                      MINIDUMP_UNLOADED_MODULE_LIST, file_version)
from parsers.minidump_threads import (EXCEPTION_MAXIMUM_PARAMETERS, MINIDUMP_EXCEPTION_STREAM,
                                      MINIDUMP_THREAD, MINIDUMP_THREAD_INFO,
                                      MINIDUMP_THREAD_INFO_LIST, MINIDUMP_THREAD_NAME)
from toolkit.errors import CorruptStream
from toolkit.minidump_file import MinidumpFile
from toolkit.target import (Arch, Handle, HandleObjectInfo, MiscInfo, Module, Problem, Registers,
                            SystemInfo, UnloadedModule)

THREAD_LIST, MODULE_LIST, EXCEPTION, SYSTEM_INFO = 3, 4, 6, 7
HANDLE_DATA, UNLOADED_MODULE_LIST, MISC_INFO, THREAD_INFO_LIST, THREAD_NAMES = 12, 14, 15, 17, 24

ARCH_BY_PROCESSOR = {
    "PROCESSOR_ARCHITECTURE_INTEL": Arch.X86, "PROCESSOR_ARCHITECTURE_AMD64": Arch.AMD64,
    "PROCESSOR_ARCHITECTURE_ARM64": Arch.ARM64, "PROCESSOR_ARCHITECTURE_ARM": Arch.ARM,
}
MAX_OBJECT_INFO_CHAIN = 64        # records per handle; real dumps carry one or two
MAX_OBJECT_INFO_PAYLOAD = 0x1000  # payloads larger than this are kept raw, truncated


def counted_array(f: MinidumpFile, stream_type: int, item: Struct, what: str,
                  count_size: int = 4) -> list:
    """A u32 count followed by ``count`` fixed-size items, checked against the stream size."""
    entry, data = f.entry(stream_type), f.stream(stream_type)
    if entry is None or data is None:
        return []
    if len(data) < count_size:
        raise CorruptStream(stream_type, f"{what}: stream of {len(data)} bytes has no count")
    count = int.from_bytes(data[:4], "little")
    need = count_size + count * item.sizeof()
    if need > len(data):
        raise CorruptStream(stream_type, f"{count} {what} need {need:#x} bytes but the stream "
                            f"has {len(data):#x}", offset=entry.rva)
    return list(Array(count, item).parse(data[count_size:need]))


def strided_entries(f: MinidumpFile, stream_type: int, header: Struct, item: Struct,
                    what: str) -> list:
    """Entries of a SizeOfHeader/SizeOfEntry/NumberOfEntries list (they may grow in newer dumps)."""
    data = f.stream(stream_type)
    if data is None:
        return []
    if len(data) < header.sizeof():
        raise CorruptStream(stream_type, f"{what}: stream shorter than its header")
    h = header.parse(data[:header.sizeof()])
    if h.SizeOfEntry < item.sizeof() or h.SizeOfHeader < header.sizeof():
        raise CorruptStream(stream_type, f"{what}: entry size {h.SizeOfEntry:#x} is smaller "
                            f"than {item.sizeof():#x}")
    if h.SizeOfHeader + h.NumberOfEntries * h.SizeOfEntry > len(data):
        raise CorruptStream(stream_type, f"{h.NumberOfEntries} {what} do not fit in "
                            f"{len(data):#x} bytes")
    step, start, n = h.SizeOfEntry, h.SizeOfHeader, item.sizeof()
    return [item.parse(data[start + i * step: start + i * step + n])
            for i in range(h.NumberOfEntries)]


# ---- system / misc -------------------------------------------------------------------------

def system_info(f: MinidumpFile) -> Tuple[SystemInfo, int]:
    """(SystemInfo, raw PlatformId). A dump without the stream reports an unknown arch."""
    data = f.stream(SYSTEM_INFO)
    if data is None:
        return SystemInfo(arch=Arch.UNKNOWN, platform="unknown"), -1
    if len(data) < MINIDUMP_SYSTEM_INFO.sizeof():
        raise CorruptStream(SYSTEM_INFO, f"{len(data)} bytes, expected "
                            f"{MINIDUMP_SYSTEM_INFO.sizeof()}")
    s = MINIDUMP_SYSTEM_INFO.parse(data)
    platform_id = int(s.PlatformId)
    platform = NON_WINDOWS_PLATFORMS.get(platform_id, "windows" if platform_id == 2 else "unknown")
    csd = None
    if s.CSDVersionRva:
        try:
            csd = f.string(s.CSDVersionRva, SYSTEM_INFO, "CSDVersion") or None
        except CorruptStream:
            f.problems.append(Problem("minidump.csd_version", "CSDVersion string is out of the file"))
    vendor = None
    if s.ProcessorArchitecture == "PROCESSOR_ARCHITECTURE_INTEL" or \
            s.ProcessorArchitecture == "PROCESSOR_ARCHITECTURE_AMD64":
        raw = b"".join(v.to_bytes(4, "little") for v in s.Cpu.VendorId)
        vendor = raw.decode("latin1").strip("\0") or None
    arch = ARCH_BY_PROCESSOR.get(str(s.ProcessorArchitecture), Arch.UNKNOWN)
    info = SystemInfo(arch=arch, platform=platform, os_major=s.MajorVersion,
                      os_minor=s.MinorVersion, os_build=s.BuildNumber, csd_version=csd,
                      product_type=int(s.ProductType), processor_count=s.NumberOfProcessors,
                      processor_level=s.ProcessorLevel, processor_revision=s.ProcessorRevision,
                      cpu_vendor=vendor if vendor and vendor.isprintable() else None)
    return info, platform_id


def misc_info(f: MinidumpFile) -> Optional[MiscInfo]:
    data = f.stream(MISC_INFO)
    if data is None:
        return None
    size_of_info = int.from_bytes(data[:4], "little") if len(data) >= 4 else 0
    layout = misc_info_layout(min(size_of_info, len(data)))
    if layout is None:
        raise CorruptStream(MISC_INFO, f"SizeOfInfo {size_of_info} is smaller than version 1")
    m = layout.parse(data[:layout.sizeof()])
    has_pid = bool(m.Flags1.MINIDUMP_MISC1_PROCESS_ID)
    has_times = bool(m.Flags1.MINIDUMP_MISC1_PROCESS_TIMES)
    return MiscInfo(process_id=m.ProcessId if has_pid else None,
                    process_create_time=m.ProcessCreateTime if has_times else None,
                    process_user_time=m.ProcessUserTime if has_times else None,
                    process_kernel_time=m.ProcessKernelTime if has_times else None,
                    size_of_info=size_of_info)


# ---- threads ---------------------------------------------------------------------------------

def thread_records(f: MinidumpFile) -> list:
    return counted_array(f, THREAD_LIST, MINIDUMP_THREAD, "threads")


def thread_names(f: MinidumpFile) -> Dict[int, str]:
    names = {}
    for item in counted_array(f, THREAD_NAMES, MINIDUMP_THREAD_NAME, "thread names"):
        if item.RvaOfThreadName:
            names[item.ThreadId] = f.string(item.RvaOfThreadName, THREAD_NAMES, "thread name")
    return names


def thread_infos(f: MinidumpFile) -> Dict[int, object]:
    return {t.ThreadId: t for t in strided_entries(
        f, THREAD_INFO_LIST, MINIDUMP_THREAD_INFO_LIST, MINIDUMP_THREAD_INFO, "thread infos")}


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
    layout = CONTEXT_LAYOUTS[kind]
    parsed = layout.parse(data[:layout.sizeof()])
    return Registers(Arch(kind), registers_of(kind, parsed))


def exception_record(f: MinidumpFile):
    data = f.stream(EXCEPTION)
    if data is None:
        return None
    if len(data) < MINIDUMP_EXCEPTION_STREAM.sizeof():
        raise CorruptStream(EXCEPTION, f"{len(data)} bytes, expected "
                            f"{MINIDUMP_EXCEPTION_STREAM.sizeof()}")
    record = MINIDUMP_EXCEPTION_STREAM.parse(data)
    n = min(record.ExceptionRecord.NumberParameters, EXCEPTION_MAXIMUM_PARAMETERS)
    return record, tuple(record.ExceptionRecord.ExceptionInformation[:n])


# ---- modules ---------------------------------------------------------------------------------

def modules(f: MinidumpFile, problems: List[Problem]) -> List[Module]:
    out = []
    for m in counted_array(f, MODULE_LIST, MINIDUMP_MODULE, "modules"):
        path = f.string(m.ModuleNameRva, MODULE_LIST, "module name")
        cv_bytes, debug_id, pdb, source = None, None, None, None
        if m.CvRecord.DataSize:
            cv_bytes = bytes(f.slice(m.CvRecord.Rva, m.CvRecord.DataSize, MODULE_LIST,
                                     f"CodeView record of {path}"))
            cv = parse_codeview(cv_bytes)
            debug_id, pdb = cv.debug_id, cv.pdb_name
            source = "cv_record" if debug_id is not None else None
            if debug_id is None:
                problems.append(Problem("module.cv_unknown", f"{path}: CodeView record "
                                        f"{cv.signature!r} is not RSDS/NB10"))
        out.append(Module(base=m.BaseOfImage, size=m.SizeOfImage, path=path,
                          timestamp=m.TimeDateStamp, checksum=m.CheckSum,
                          size_of_image=m.SizeOfImage, debug_id=debug_id, pdb_name=pdb,
                          cv_record=cv_bytes, version=file_version(m.VersionInfo),
                          debug_id_source=source))
    return out


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
        d = layout.parse(data[at:at + layout.sizeof()])
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
        if layout is not None and rec.SizeOfInfo == layout.sizeof():
            fields = {k: v for k, v in layout.parse(payload).items() if not k.startswith("_")}
            out.append(HandleObjectInfo(info_type, fields, payload, layout="inferred"))
        else:
            out.append(HandleObjectInfo(info_type, {}, payload, layout="raw"))
        rva = rec.NextInfoRva
    return out


__all__ = [
    "counted_array", "strided_entries", "system_info", "misc_info", "thread_records",
    "thread_names", "thread_infos", "context", "exception_record", "modules",
    "unloaded_modules", "handles", "object_info_chain",
]
