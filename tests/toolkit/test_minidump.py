"""MinidumpTarget answers the Target protocol from real dumps (values cross-checked against
Breakpad's minidump_dump output, MANIFEST.md and wine/SUMMARY.md)."""

from __future__ import annotations

import struct

import pytest

from toolkit.model.errors import CorruptInput, CorruptStream, InputError, UnsupportedTarget
from toolkit.targets.minidump.target import MinidumpTarget
from toolkit.model.target import Arch, Problem, Target
from tests.conftest import corpus_path


@pytest.fixture(scope="module")
def minidump2():
    t = MinidumpTarget(corpus_path("breakpad/processor/minidump2.dmp"))
    yield t
    t.close()


@pytest.fixture(scope="module")
def cet():
    t = MinidumpTarget(corpus_path("breakpad/processor/tiny-exe-with-cet-xsave.dmp"))
    yield t
    t.close()


def test_is_a_target(minidump2):
    assert isinstance(minidump2, Target)


def test_arch_os_and_process_id(minidump2):
    s = minidump2.system_info()
    assert (minidump2.arch, minidump2.pointer_size) == (Arch.X86, 4)
    assert (s.os_version, s.csd_version, s.cpu_vendor) == ("5.1.2600", "Service Pack 2", "GenuineIntel")
    assert minidump2.process_id == 3932


def test_threads_have_teb_stack_and_registers(minidump2):
    t0, t1 = minidump2.threads()
    assert (t0.tid, t0.teb, t0.stack_start, t0.stack_end) == (0xBF4, 0x7FFDF000, 0x12F31C, 0x12F31C + 0xCE4)
    assert (t0.registers.ip, t0.registers.sp, t0.registers.fp) == (0x7C90EB94, 0x12F320, 0x12F384)
    assert t1.tid == 0x11C0 and t1.teb == 0x7FFDE000


def test_modules_carry_codeview_identity(minidump2):
    first = minidump2.modules()[0]
    assert (first.base, first.size, first.path) == (0x400000, 0x2D000, "c:\\test_app.exe")
    assert str(first.debug_id) == "5A9832E5287241C1838ED98914E9B7FF1"
    assert (first.pdb_name, first.debug_id_source, first.code_id) == \
        ("c:\\test_app.pdb", "cv_record", "45D35F6C2d000")


def test_module_at_finds_the_containing_module(minidump2):
    assert minidump2.module_at(0x40429E).name == "test_app.exe"
    assert minidump2.module_at(0x7C900000 + 0xAFFFF).name == "ntdll.dll"
    assert minidump2.module_at(0x10) is None


def test_exception_is_named_and_has_its_context(minidump2):
    e = minidump2.exception()
    assert (e.thread_id, e.code, e.name, e.address) == (0xBF4, 0xC0000005, "EXCEPTION_ACCESS_VIOLATION", 0x40429E)
    assert e.parameters == (1, 0x45)
    assert e.registers.ip == 0x40429E and e.registers.values["eax"] == 0x45


def test_memory_reads_stack_bytes_across_the_map(minidump2):
    t0 = minidump2.threads()[0]
    assert minidump2.is_readable(t0.stack_start, t0.stack_end - t0.stack_start)
    assert minidump2.read_pointer(t0.stack_start + 4) == 0x7C90E9C0
    assert not minidump2.is_readable(0x10, 4)


def test_no_handle_or_memory_info_streams_read_as_none(minidump2):
    assert minidump2.handles() is None and minidump2.memory_info() is None


def test_handle_data_v1_descriptors(cet):
    handles = cet.handles()
    assert len(handles) == 147
    types = {h.type_name for h in handles}
    assert {"Event", "File", "Key"} <= types
    assert all(h.object_info == () for h in handles)     # 32-byte descriptors carry none


def test_memory_info_and_unloaded_modules(cet):
    info = cet.memory_info()
    assert len(info) == 557 and len(cet.memory_info_table()) == 557
    assert all(a.end <= b.base for a, b in zip(info, info[1:]))
    assert len(cet.unloaded_modules()) == 1
    assert cet.exception() is None


def test_xstate_thread_context_is_decoded(cet):
    (thread,) = cet.threads()
    assert thread.registers.arch is Arch.AMD64 and thread.registers.ip


def test_thread_names():
    with MinidumpTarget(corpus_path("breakpad/processor/thread_name_list.dmp")) as t:
        names = {th.tid: th.name for th in t.threads()}
    assert names[6564] == "main thread" and names[8820] == "sleep thread"
    assert names[10976] == "overflow thread"


def test_wine_module_codeview_present_only_in_the_cv_variant():
    with MinidumpTarget(corpus_path("wine/dumps/crash-x86_64-nocrt-ext-normal-cv.dmp")) as cv:
        assert cv.modules()[0].debug_id_source == "cv_record"
    with MinidumpTarget(corpus_path("wine/dumps/crash-x86_64-nocrt-ext-normal.dmp")) as plain:
        exe = plain.modules()[0]
        assert exe.cv_record is None and exe.debug_id is None   # image pages not captured
        assert Problem("module.no_codeview", f"{exe.name}: no CodeView record") in plain.problems


def test_linux_minidump_is_declined():
    with pytest.raises(UnsupportedTarget, match="linux minidump"):
        MinidumpTarget(corpus_path("rust-minidump/testdata/linux-mini.dmp"))


def test_dump_without_system_info_is_corrupt():
    with pytest.raises(CorruptInput, match="no SystemInfo"):
        MinidumpTarget(corpus_path("rust-minidump/testdata/invalid-range.dmp"))


def _with_thread_count(data: bytes, count: int) -> bytes:
    h = struct.unpack_from("<4sIIIIIQ", data)
    for i in range(h[2]):
        stype, size, rva = struct.unpack_from("<III", data, h[3] + 12 * i)
        if stype == 3:
            return data[:rva] + struct.pack("<I", count) + data[rva + 4:]
    raise AssertionError("no thread list")


def test_forged_thread_count_is_a_corrupt_stream_not_a_huge_allocation():
    data = corpus_path("breakpad/processor/minidump2.dmp").read_bytes()
    t = MinidumpTarget(_with_thread_count(data, 0x7FFFFFFF))
    with pytest.raises(CorruptStream, match="threads need"):
        t.threads()


def test_truncated_file_reports_streams_past_its_end():
    data = corpus_path("breakpad/processor/minidump2.dmp").read_bytes()[:0x400]
    t = MinidumpTarget(data)
    with pytest.raises(InputError):
        t.modules()


def test_directory_read_with_struct_equals_the_construct_layout_on_every_corpus_dump():
    """Each known stream type's entry is the construct layout's first entry of that type."""
    from parsers.minidump import MINIDUMP_DIRECTORY
    from tests.conftest import CORPUS
    from toolkit.targets.minidump.file import MinidumpFile
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is not beside the repository")
    checked = 0
    for path in sorted(CORPUS.rglob("*.dmp")):
        try:
            f = MinidumpFile(path)
        except InputError:
            continue
        with f:
            rva, item = f.header.StreamDirectoryRva, MINIDUMP_DIRECTORY.sizeof()
            first = {}
            for i in range(f.header.NumberOfStreams):
                raw = MINIDUMP_DIRECTORY.parse(bytes(f.view[rva + i * item:rva + (i + 1) * item]))
                if not isinstance(raw.StreamType, int) and int(raw.StreamType) > 2:
                    first.setdefault(int(raw.StreamType), (i, str(raw.StreamType),
                                                           raw.Location.Rva,
                                                           raw.Location.DataSize))
            for code, expected in first.items():
                entry = f.entry(code)
                assert entry is not None, (path, code)
                assert (entry.index, entry.name, entry.rva, entry.size) == expected, path
                checked += 1
    assert checked > 200
