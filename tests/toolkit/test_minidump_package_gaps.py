"""Why dumpkit walks minidumps itself instead of through the ``minidump`` package (0.0.24).

One test per reason, each showing the package's behaviour next to ours on the same bytes: a
corpus file where one has the feature, otherwise a dump built with our construct layouts.
If a future package version fixes a gap, its test fails here and the replacement can go.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest

from parsers.context import ARM64_NT_CONTEXT
from parsers.minidump_threads import MINIDUMP_THREAD
from toolkit.minidump import MinidumpTarget
from toolkit.target import Arch
from tests.conftest import corpus_path
from tests.toolkit.minidump_builder import build_minidump, handle_stream, system_info

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
