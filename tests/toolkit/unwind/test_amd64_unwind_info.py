"""The .pdata index and UNWIND_INFO decoding against pefile and LLVM's expected dumps."""

from __future__ import annotations

import numpy as np
import pefile
import pytest

from parsers.unwind_amd64 import RUNTIME_FUNCTION
from tests.conftest import corpus_path
from toolkit.model.errors import CorruptInput
from toolkit.unwind.amd64_unwind_info import (
    ImageUnwindData, PdataIndex, UNW_FLAG_CHAININFO, file_rva_reader,
)

X64_IMAGES = [
    "rizin-testbins/pe/microsoft_seh_tests/x64/xcpt4.exe",
    "rizin-testbins/pe/microsoft_seh_tests/x64/xframe_eh_dll.dll",
    "symbolic/windows/CrashWithException.exe",
    "breakpad/dump_syms/dump_syms_regtest64.exe",
    "mozilla-dump_syms/windows/basic64.dll",
    "rizin-testbins/pdb/exceptions-test.exe",
]
WIN64_UNWIND = "llvm/tools/llvm-objdump/COFF/Inputs/win64-unwind.exe.coff-x86_64.exe"
READOBJ_IMAGE = "llvm/derived/unwind-x86_64-image.exe"


def _image(rel):
    data = corpus_path(rel).read_bytes()
    read_rva, base, rva, size = file_rva_reader(data)
    return data, base, ImageUnwindData(read_rva, rva, size)


def _pefile_exceptions(data):
    pe = pefile.PE(data=data, fast_load=True)
    pe.parse_data_directories(directories=[pefile.DIRECTORY_ENTRY[
        "IMAGE_DIRECTORY_ENTRY_EXCEPTION"]])
    return pe.DIRECTORY_ENTRY_EXCEPTION


@pytest.mark.parametrize("rel", X64_IMAGES)
def test_index_holds_the_same_entries_as_pefile(rel):
    data, _, unwind = _image(rel)
    expected = [(e.struct.BeginAddress, e.struct.EndAddress, e.struct.UnwindData)
                for e in _pefile_exceptions(data)]
    got = [(int(b), int(e), int(u)) for b, e, u in
           zip(unwind.index.begin, unwind.index.end, unwind.index.unwind_data)]
    assert got == sorted(expected)


@pytest.mark.parametrize("rel", X64_IMAGES)
def test_chained_unwind_info_count_agrees_with_pefile(rel):
    data, _, unwind = _image(rel)
    expected = sum(1 for e in _pefile_exceptions(data)
                   if e.unwindinfo is not None and e.unwindinfo.Flags & UNW_FLAG_CHAININFO)
    got = sum(1 for i in range(len(unwind.index))
              if unwind.unwind_info(unwind.index.entry(i).unwind_data).chained is not None)
    assert got == expected


@pytest.mark.parametrize("rel", X64_IMAGES)
def test_decoded_prolog_fields_agree_with_pefile(rel):
    data, _, unwind = _image(rel)
    for e in _pefile_exceptions(data):
        ui = e.unwindinfo
        if ui is None:
            continue
        info = unwind.unwind_info(e.struct.UnwindData)
        assert (info.version, info.size_of_prolog, info.count_of_codes) == (
            ui.Version, ui.SizeOfProlog, ui.CountOfCodes)
        assert info.frame_offset == ui.FrameOffset * 16


@pytest.mark.parametrize("rel", X64_IMAGES)
def test_index_rebuilds_the_pdata_bytes(rel):
    data, _, unwind = _image(rel)
    pe = pefile.PE(data=data, fast_load=True)
    d = pe.OPTIONAL_HEADER.DATA_DIRECTORY[3]
    raw = pe.get_data(d.VirtualAddress, d.Size)
    rebuilt = b"".join(RUNTIME_FUNCTION.build(dict(
        BeginAddress=int(b), EndAddress=int(e), UnwindData=int(u))) for b, e, u in
        zip(unwind.index.begin, unwind.index.end, unwind.index.unwind_data))
    assert rebuilt == raw[:len(rebuilt)]


@pytest.mark.parametrize("rel", X64_IMAGES)
def test_lookup_finds_the_entry_for_every_byte_of_a_function_and_none_between(rel):
    _, _, unwind = _image(rel)
    index = unwind.index
    for i in range(0, len(index), max(1, len(index) // 50)):
        entry = index.entry(i)
        for rva in (entry.begin, (entry.begin + entry.end) // 2, entry.end - 1):
            if entry.end > entry.begin:
                assert index.lookup(rva) == entry
    gaps = index.begin[1:][index.begin[1:] > index.end[:-1]]
    for rva in gaps[:20]:
        assert index.lookup(int(rva) - 1) is None


def test_vectorized_lookup_agrees_with_scalar_lookup():
    _, _, unwind = _image("mozilla-dump_syms/windows/basic64.dll")
    index = unwind.index
    rng = np.random.default_rng(4)
    rvas = rng.integers(int(index.begin[0]) - 64, int(index.end[-1]) + 64, size=2000)
    rows = index.lookup_many(rvas)
    for rva, row in zip(rvas.tolist(), rows.tolist()):
        entry = index.lookup(rva)
        assert row == (-1 if entry is None else entry.index)


def test_win64_unwind_exe_matches_llvm_objdump_expected_output():
    # llvm/tools/llvm-objdump/COFF/win64-unwind-data.test, EXE prefix.
    _, _, unwind = _image(WIN64_UNWIND)
    rows = [unwind.index.entry(i) for i in range(len(unwind.index))]
    assert [(r.begin, r.end, r.unwind_data) for r in rows] == [
        (0x1000, 0x101B, 0x2000), (0x1012, 0x1012, 0x201C), (0x101B, 0x101C, 0x202C),
        (0x101C, 0x1039, 0x2034)]
    first = unwind.unwind_info(0x2000)
    assert (first.version, first.flags, first.size_of_prolog, first.count_of_codes) == (1, 1, 18, 8)
    assert (first.frame_register, first.frame_offset) == ("rbx", 0)
    assert [(op.code_offset, op.op, op.register, op.value) for op in first.ops] == [
        (0x12, "UWOP_SET_FPREG", None, 0),
        (0x0F, "UWOP_PUSH_NONVOL", "rbx", 0),
        (0x0E, "UWOP_SAVE_XMM128", "xmm8", 0x0000),
        (0x09, "UWOP_SAVE_NONVOL", "rsi", 0x0010),
        (0x04, "UWOP_ALLOC_SMALL", None, 24),
        (0x00, "UWOP_PUSH_MACHFRAME", None, 1),
    ]
    # objdump prints "w/o error code" for OpInfo 1; Microsoft's reference says OpInfo 1 means
    # an error code *was* pushed (LLVM's wording is inverted), and we follow Microsoft.
    chained = unwind.unwind_info(0x201C)
    assert chained.flags == UNW_FLAG_CHAININFO and chained.ops == ()
    assert chained.chained.begin == 0x1000 and chained.chained.unwind_data == 0x2000
    alloc = unwind.unwind_info(0x2034)
    # objdump prints the raw slots "AllocLarge 8454128" (OpInfo 1: bytes) and "8190" (OpInfo 0:
    # eighths), so the second allocation is 8190 * 8 bytes.
    assert [(op.code_offset, op.op, op.value) for op in alloc.ops] == [
        (0x0E, "UWOP_ALLOC_LARGE", 8454128), (0x07, "UWOP_ALLOC_LARGE", 8190 * 8),
        (0x00, "UWOP_PUSH_MACHFRAME", 1)]


def test_unwind_x86_64_image_matches_llvm_readobj_expected_output():
    # CHECK lines of llvm/tools/llvm-readobj/COFF/unwind-x86_64-image.yaml
    corpus_path("llvm/tools/llvm-readobj/COFF/unwind-x86_64-image.yaml")
    _, base, unwind = _image(READOBJ_IMAGE)
    entry = unwind.function_at(0x140001020 - base)
    assert (base + entry.begin, base + entry.end, base + entry.unwind_data) == (
        0x140001020, 0x14000105C, 0x140002008)
    info = unwind.unwind_info(entry.unwind_data)
    assert info.version == 1 and info.flag_names == ("UNW_FLAG_EHANDLER", "UNW_FLAG_UHANDLER")
    assert (info.size_of_prolog, info.frame_register, info.count_of_codes) == (4, None, 1)
    assert [f"0x{op.code_offset:02X}: {op.describe()}" for op in info.ops] == [
        "0x04: ALLOC_SMALL size=56"]
    assert base + info.handler == 0x140001070


def test_chained_unwind_loop_is_reported_not_followed_forever():
    # symbolic's fixture: an UNWIND_INFO whose chained entry points back at itself.
    _, _, unwind = _image("symbolic/windows/cfi_chained_loop.exe")
    with pytest.raises(CorruptInput, match="loops"):
        unwind.chain(unwind.index.entry(0))


def test_empty_or_ragged_pdata_gives_an_empty_or_truncated_index():
    assert len(PdataIndex.from_bytes(b"")) == 0
    assert len(PdataIndex.from_bytes(b"\0" * 24 + b"\1\2")) == 0
