"""Where dumpkit keeps its own decoding instead of the ``minidump`` package's (0.0.24).

The streams the package decodes right come from it at run time (toolkit/targets/minidump/package.py,
cross-checked in test_minidump_package_crosscheck.py); everything else is ours, for the reasons
below. One test per reason, each showing the package's behaviour next to ours on the same
bytes: a corpus file where one has the feature, otherwise a dump built with our construct
layouts. If a future package version fixes a gap, its test fails here and the stream can move.
"""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest

from parsers.context import ARM64_NT_CONTEXT
from parsers.minidump_modules import MINIDUMP_UNLOADED_MODULE, MINIDUMP_UNLOADED_MODULE_LIST
from parsers.minidump_threads import (MINIDUMP_THREAD, MINIDUMP_THREAD_INFO,
                                      MINIDUMP_THREAD_INFO_LIST)
from toolkit.targets.minidump.target import MinidumpTarget
from toolkit.model.target import Arch
from tests.conftest import corpus_path
from tests.toolkit.minidump_builder import (build_minidump, handle_stream, minidump_string,
                                            system_info)

package = pytest.importorskip("minidump.minidumpfile")


def package_parse(path):
    return package.MinidumpFile.parse(str(path))


def test_unknown_stream_type_aborts_the_package_but_not_us():
    path = corpus_path("wine/dumps/crash-i686-nocrt-ext-normal.dmp")    # Wine's stream 0xFFF0
    with pytest.raises(ValueError, match="65520 is not a valid MINIDUMP_STREAM_TYPE"):
        package_parse(path)
    with MinidumpTarget(path) as ours:
        assert len(ours.threads()) == 1 and ours.exception().code == 0xC0000005


def test_package_misreads_header_timestamp_and_flags():
    path = corpus_path("breakpad/processor/tiny-exe-fastfail.dmp")
    theirs = package_parse(path).header
    data = path.read_bytes()
    time_date_stamp, flags = struct.unpack_from("<IQ", data, 0x14)
    with MinidumpTarget(path) as ours:
        assert ours.timestamp == time_date_stamp
        assert ours.header_flags.MiniDumpWithProcessThreadData and flags & 0x100
    assert theirs.TimeDateStamp != time_date_stamp            # it reads Flags' low dword
    assert theirs.Flags.value != flags                         # and loses the flags


def test_package_drops_the_module_codeview_record():
    path = corpus_path("breakpad/processor/minidump2.dmp")
    theirs = package_parse(path).modules.modules[0]
    assert not any("cv" in name.lower() for name in vars(theirs))
    with MinidumpTarget(path) as ours:
        assert str(ours.modules()[0].debug_id) == "5A9832E5287241C1838ED98914E9B7FF1"


def test_package_leaves_the_exception_context_undecoded():
    path = corpus_path("breakpad/processor/minidump2.dmp")
    record = package_parse(path).exception.exception_records[0]
    assert type(record.ThreadContext).__name__ == "MINIDUMP_LOCATION_DESCRIPTOR"
    with MinidumpTarget(path) as ours:
        assert ours.exception().registers.ip == 0x40429E


def test_package_stops_handle_object_chains_and_keeps_payloads_raw():
    data = build_minidump([(7, system_info()), (12, handle_stream)])
    theirs = package.MinidumpFile.parse_bytes(data).handles.handles[0]
    assert [i.InfoType for i in theirs.ObjectInfos] == [2]              # first record only
    assert theirs.ObjectInfos[0].info_bytes == b"\xff\xff\xff\xff\0\0\0\0"   # raw bytes
    ours = MinidumpTarget(data).handles()[0]
    assert len(ours.object_info) == 3
    assert ours.info("MiniMutantInformation2").fields["OwnerThreadId"] == 0x5678


def test_package_builds_one_python_object_per_memory_info_row():
    """Ours is one numpy table (no per-row Python work at open); timing lives in bench/."""
    path = corpus_path("breakpad/processor/tiny-exe-with-cet-xsave.dmp")
    theirs = package_parse(path).memory_info.infos
    with MinidumpTarget(path) as ours:
        table = ours.memory_info_table()
        assert isinstance(table, np.ndarray) and table.dtype.names[0] == "BaseAddress"
        assert len(table) == len(theirs) == 557


def test_package_turns_combined_protect_state_type_into_none():
    path = corpus_path("breakpad/processor/tiny-exe-with-cet-xsave.dmp")
    theirs = package_parse(path).memory_info.infos
    with MinidumpTarget(path) as ours:
        mine = ours.memory_info()
    lost = [(t, m) for t, m in zip(theirs, mine)
            if t.Protect is None or t.State is None or (t.Type is None and m.type)]
    assert lost, "the package decoded every row; this gap may be fixed"
    for t, m in lost:
        assert t.BaseAddress == m.base
        assert m.protect or m.state or m.type                    # we keep the numbers
    assert all(m.protect & 0x100 for _, m in lost)               # PAGE_GUARD | PAGE_*


def arm64_dump() -> bytes:
    ctx = struct.pack("<II29QQQQQ", 0x400003, 0, *range(29), 0xF0, 0x1111, 0x7FF0, 0x401000)
    ctx += bytes(ARM64_NT_CONTEXT.sizeof() - len(ctx))

    def threads(rva: int) -> bytes:
        record = MINIDUMP_THREAD.build(dict(
            ThreadId=7, SuspendCount=0, PriorityClass=0x20, Priority=0, Teb=0x7FF000,
            Stack=dict(StartOfMemoryRange=0x7FF0, Memory=dict(DataSize=0, Rva=0)),
            ThreadContext=dict(DataSize=len(ctx), Rva=rva + 4 + 48)))
        return struct.pack("<I", 1) + record + ctx
    return build_minidump([(7, system_info("PROCESSOR_ARCHITECTURE_ARM64")), (3, threads)])


def test_package_rejects_arm64_dumps_and_has_no_arm64_context():
    data = arm64_dump()
    with pytest.raises(ValueError, match="12 is not a valid PROCESSOR_ARCHITECTURE"):
        package.MinidumpFile.parse_bytes(data)
    (ours,) = MinidumpTarget(data).threads()
    assert ours.registers.arch is Arch.ARM64
    assert (ours.registers.ip, ours.registers.sp, ours.registers.fp) == (0x401000, 0x7FF0, 0xF0)


def thread_info_stream(rva: int) -> bytes:
    """Two MINIDUMP_THREAD_INFO rows 0x48 apart (a writer may append fields), the first with
    combined DumpFlags (WRITING_THREAD | INVALID_CONTEXT, as dbghelp sets for its own thread)."""
    rows = b""
    for tid, flags in ((0x10, 0x12), (0x20, 0)):
        row = MINIDUMP_THREAD_INFO.build(dict(
            ThreadId=tid, DumpFlags=dict(MINIDUMP_THREAD_INFO_WRITING_THREAD=bool(flags & 2),
                                         MINIDUMP_THREAD_INFO_INVALID_CONTEXT=bool(flags & 0x10)),
            DumpError=0, ExitStatus=0, CreateTime=0, ExitTime=0, KernelTime=0, UserTime=0,
            StartAddress=0x401000 + tid, Affinity=1))
        rows += row + bytes(8)
    return MINIDUMP_THREAD_INFO_LIST.build(dict(SizeOfHeader=12, SizeOfEntry=0x48,
                                                NumberOfEntries=2)) + rows


def test_package_loses_combined_thread_dump_flags_and_the_entry_stride():
    """No corpus dump has a ThreadInfoList, so this stream stays ours."""
    from minidump.streams.ThreadInfoListStream import MinidumpThreadInfoList
    data = build_minidump([(7, system_info()), (17, thread_info_stream)])
    rva = int.from_bytes(data[0x20 + 12 + 8:0x20 + 12 + 12], "little")
    directory = type("D", (), {"Location": type("L", (), {"Rva": rva, "DataSize": 12 + 2 * 0x48})})
    theirs = MinidumpThreadInfoList.parse(directory, io.BytesIO(data)).infos
    assert theirs[0].DumpFlags is None                       # a single-value Enum: 0x12 is lost
    assert theirs[1].ThreadId != 0x20                        # read 0x40 bytes on, not 0x48
    ours = MinidumpTarget(data).thread_infos()
    assert ours[0x10].DumpFlags.MINIDUMP_THREAD_INFO_WRITING_THREAD
    assert ours[0x10].DumpFlags.MINIDUMP_THREAD_INFO_INVALID_CONTEXT
    assert ours[0x20].StartAddress == 0x401020


def unloaded_stream(names, entry_size: int = 24):
    def make(rva: int) -> bytes:
        head = 12 + len(names) * entry_size
        rows, strings = b"", b""
        for i, name in enumerate(names):
            rows += MINIDUMP_UNLOADED_MODULE.build(dict(
                BaseOfImage=0x10000000 * (i + 1), SizeOfImage=0x1000, CheckSum=0,
                TimeDateStamp=i, ModuleNameRva=rva + head + len(strings)))
            rows += bytes(entry_size - 24)
            strings += name if isinstance(name, bytes) else minidump_string(name)
        return MINIDUMP_UNLOADED_MODULE_LIST.build(dict(
            SizeOfHeader=12, SizeOfEntry=entry_size, NumberOfEntries=len(names))) + rows + strings
    return make


def test_package_ignores_the_unloaded_module_entry_size():
    """Lists with a longer SizeOfEntry are routed to our layout; 24-byte ones to the package."""
    from minidump.minidumpfile import MinidumpFile as PackageFile
    data = build_minidump([(7, system_info()), (14, unloaded_stream(["a.dll", "b.dll"], 32))])
    theirs = PackageFile.parse_bytes(data).unloaded_modules.modules
    assert theirs[1].baseaddress != 0x20000000               # stepped 24 bytes, not 32
    ours = MinidumpTarget(data).unloaded_modules()
    assert [(u.base, u.name) for u in ours] == [(0x10000000, "a.dll"), (0x20000000, "b.dll")]


def test_package_replaces_an_undecodable_name_with_a_stand_in():
    """A lone surrogate in a name: the package gives '<STRING_DECODE_FAILED>', so names it
    cannot decode are read by ours, which keeps the readable characters."""
    from minidump.common_structs import MINIDUMP_STRING
    bad = b"\x06\0\0\0" + "a".encode("utf-16-le") + b"\x00\xd8" + "b".encode("utf-16-le")
    assert MINIDUMP_STRING.get_from_rva(0, io.BytesIO(bad)) == "<STRING_DECODE_FAILED>"
    data = build_minidump([(7, system_info()), (14, unloaded_stream([bad + b"\0\0"]))])
    (ours,) = MinidumpTarget(data).unloaded_modules()
    assert ours.name == "a\ufffdb"


def test_package_rejects_platform_ids_outside_its_enum():
    """Breakpad's MD_OS_UNIX (0x8000) makes the package's SystemInfo raise; ours reads it and
    declines the dump as non-Windows in one line."""
    from minidump.streams.SystemInfoStream import MINIDUMP_SYSTEM_INFO as PackageSystemInfo
    from toolkit.model.errors import UnsupportedTarget

    def unix(rva: int) -> bytes:
        raw = bytearray(system_info()(rva))
        raw[0x14:0x18] = struct.pack("<I", 0x8000)
        return bytes(raw)
    data = build_minidump([(7, unix)])
    with pytest.raises(ValueError, match="32768 is not a valid PLATFORM_ID"):
        PackageSystemInfo.parse(io.BytesIO(unix(0)))
    with pytest.raises(UnsupportedTarget, match="unix minidump"):
        MinidumpTarget(data)
