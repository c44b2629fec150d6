"""Minidump layouts parse real corpus bytes, build them back byte for byte, and agree with
Breakpad's minidump_dump output for the same file (breakpad/processor/minidump2.dump.out)."""

from __future__ import annotations

import pytest

from parsers.minidump import (MINIDUMP_DIRECTORY, MINIDUMP_HEADER, MINIDUMP_STRING,
                              MINIDUMP_SYSTEM_INFO)
from parsers.minidump_misc import MINIDUMP_MISC_INFO, misc_info_layout
from parsers.minidump_modules import MINIDUMP_MODULE, MINIDUMP_UNLOADED_MODULE, file_version
from parsers.minidump_threads import (MINIDUMP_EXCEPTION_STREAM, MINIDUMP_THREAD,
                                      MINIDUMP_THREAD_NAME)
from tests.conftest import corpus_path


def dump_bytes(rel: str) -> bytes:
    return corpus_path(rel).read_bytes()


def roundtrip(layout, data: bytes):
    """Parse, build back, compare; the compiled form must agree with the interpreted one."""
    parsed = layout.parse(data)
    assert layout.build(parsed) == data
    assert layout.compile().parse(data) == parsed
    return parsed


MINIDUMP2 = "breakpad/processor/minidump2.dmp"


def test_header_matches_minidump_dump():
    h = roundtrip(MINIDUMP_HEADER, dump_bytes(MINIDUMP2)[:0x20])
    assert (h.NumberOfStreams, h.StreamDirectoryRva, h.TimeDateStamp) == (9, 0x20, 0x45D35F73)
    assert h.Version == 0xA793 and h.ImplementationVersion == 0x5128


def test_directory_entry_names_known_and_unknown_stream_types():
    data = dump_bytes(MINIDUMP2)
    entries = [roundtrip(MINIDUMP_DIRECTORY, data[0x20 + 12 * i:0x2C + 12 * i]) for i in range(9)]
    assert [str(e.StreamType) for e in entries[:7]] == [
        "ThreadListStream", "ModuleListStream", "MemoryListStream", "ExceptionStream",
        "SystemInfoStream", "MiscInfoStream", "BreakpadInfoStream"]
    assert (entries[2].Location.Rva, entries[2].Location.DataSize) == (0x1505, 52)


def test_unknown_stream_type_passes_through_as_an_int():
    raw = (0x1234567).to_bytes(4, "little") + bytes(8)
    assert roundtrip(MINIDUMP_DIRECTORY, raw).StreamType == 0x1234567


def test_wine_private_stream_is_named():
    data = dump_bytes("wine/dumps/crash-i686-nocrt-ext-normal.dmp")
    h = MINIDUMP_HEADER.parse(data)
    names = [str(MINIDUMP_DIRECTORY.parse(data[h.StreamDirectoryRva + 12 * i:]).StreamType)
             for i in range(h.NumberOfStreams)]
    assert "WineElfModulesStream" in names


def test_system_info_matches_minidump_dump():
    s = roundtrip(MINIDUMP_SYSTEM_INFO, dump_bytes(MINIDUMP2)[0x8C:0x8C + 56])
    assert s.ProcessorArchitecture == "PROCESSOR_ARCHITECTURE_INTEL"
    assert (s.MajorVersion, s.MinorVersion, s.BuildNumber) == (5, 1, 2600)
    assert s.PlatformId == "VER_PLATFORM_WIN32_NT" and s.CSDVersionRva == 0x768
    assert s.Cpu.VersionInformation == 0x6D8 and s.Cpu.FeatureInformation == 0xAFE9FBFF


def test_breakpad_linux_platform_id_is_named():
    data = dump_bytes("breakpad/processor/linux_null_read_av.dmp")
    h = MINIDUMP_HEADER.parse(data)
    for i in range(h.NumberOfStreams):
        d = MINIDUMP_DIRECTORY.parse(data[h.StreamDirectoryRva + 12 * i:])
        if d.StreamType == "SystemInfoStream":
            s = roundtrip(MINIDUMP_SYSTEM_INFO, data[d.Location.Rva:d.Location.Rva + 56])
            assert s.PlatformId == "MD_OS_LINUX"
            return
    pytest.fail("no SystemInfo stream")


def test_csd_version_string():
    data = dump_bytes(MINIDUMP2)
    n = int.from_bytes(data[0x768:0x76C], "little")
    s = roundtrip(MINIDUMP_STRING, data[0x768:0x76C + n])
    assert s.Buffer == "Service Pack 2"


def test_thread_matches_minidump_dump():
    data = dump_bytes(MINIDUMP2)
    t = roundtrip(MINIDUMP_THREAD, data[0x188:0x188 + 48])
    assert (t.ThreadId, t.Teb, t.Stack.StartOfMemoryRange, t.Stack.Memory.DataSize) == \
        (0xBF4, 0x7FFDF000, 0x12F31C, 0xCE4)
    assert (t.ThreadContext.DataSize, t.ThreadContext.Rva) == (0x2CC, 0xD94)


def test_module_matches_minidump_dump():
    data = dump_bytes(MINIDUMP2)
    m = roundtrip(MINIDUMP_MODULE, data[0x1EC + 108:0x1EC + 216])   # module[1], ntdll
    assert (m.BaseOfImage, m.SizeOfImage, m.CheckSum, m.TimeDateStamp) == \
        (0x7C900000, 0xB0000, 0xAF2F7, 0x411096B4)
    assert (m.CvRecord.DataSize, m.CvRecord.Rva) == (34, 0x1354)
    assert m.VersionInfo.dwFileVersionMS == 0x50001 and m.VersionInfo.dwFileType == "VFT_DLL"
    assert file_version(m.VersionInfo) == "5.1.2600.2180"


def test_exception_stream_matches_minidump_dump():
    e = roundtrip(MINIDUMP_EXCEPTION_STREAM, dump_bytes(MINIDUMP2)[0xDC:0xDC + 168])
    assert e.ThreadId == 0xBF4 and e.ExceptionRecord.ExceptionCode == 0xC0000005
    assert e.ExceptionRecord.ExceptionAddress == 0x40429E
    assert e.ExceptionRecord.ExceptionInformation[:2] == [1, 0x45]
    assert (e.ThreadContext.DataSize, e.ThreadContext.Rva) == (716, 0xAC8)


def test_misc_info_v1_matches_minidump_dump():
    m = roundtrip(MINIDUMP_MISC_INFO, dump_bytes(MINIDUMP2)[0xC4:0xC4 + 24])
    assert m.ProcessId == 3932 and m.ProcessCreateTime == 0x45D35F73
    assert m.Flags1.MINIDUMP_MISC1_PROCESS_ID and m.Flags1.MINIDUMP_MISC1_PROCESS_TIMES


@pytest.mark.parametrize("size,fields", [(24, 6), (44, 11), (232, 16), (832, 18), (1364, 20),
                                         (1400, 20)])
def test_misc_info_version_is_chosen_by_size(size, fields):
    assert len(misc_info_layout(size).subcons) == fields


def test_misc_info_v5_roundtrips_on_a_windows_10_dump():
    from toolkit.targets.minidump.file import MinidumpFile
    with MinidumpFile(corpus_path("breakpad/processor/tiny-exe-with-cet-xsave.dmp")) as f:
        data = bytes(f.stream(15))
    m = roundtrip(misc_info_layout(len(data)), data)
    assert m.SizeOfInfo == 1364 and "10.0.22000.282" in m.BuildString


def test_thread_name_entry_is_twelve_bytes_packed():
    from toolkit.targets.minidump.file import MinidumpFile
    with MinidumpFile(corpus_path("breakpad/processor/thread_name_list.dmp")) as f:
        data, size = bytes(f.stream(24)), f.size
    count = int.from_bytes(data[:4], "little")
    assert len(data) == 4 + 12 * count
    entries = [roundtrip(MINIDUMP_THREAD_NAME, data[4 + 12 * i:16 + 12 * i]) for i in range(count)]
    assert {6564, 8820, 10976} <= {e.ThreadId for e in entries}
    assert all(0 < e.RvaOfThreadName < size for e in entries)


def test_unloaded_module_roundtrips():
    from toolkit.targets.minidump.file import MinidumpFile
    with MinidumpFile(corpus_path("breakpad/processor/tiny-exe-with-cet-xsave.dmp")) as f:
        data = bytes(f.stream(14))
    u = roundtrip(MINIDUMP_UNLOADED_MODULE, data[12:36])
    assert u.SizeOfImage > 0 and u.ModuleNameRva > 0
