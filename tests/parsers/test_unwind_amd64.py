"""parsers.unwind_amd64 on real .pdata/.xdata bytes: parse, build back, compiled form agrees."""

from __future__ import annotations

import pefile
import pytest

from parsers.unwind_amd64 import (
    RUNTIME_FUNCTION, UNWIND_CODE, UNWIND_INFO, UNWIND_INFO_HEADER, unwind_info_size,
)
from tests.conftest import corpus_path

X64_IMAGES = [
    "rizin-testbins/pe/microsoft_seh_tests/x64/xcpt4.exe",
    "rizin-testbins/pe/microsoft_seh_tests/x64/nested_collided.exe",
    "symbolic/windows/CrashWithException.exe",
    "breakpad/dump_syms/dump_syms_regtest64.exe",
    "mozilla-dump_syms/windows/basic64.dll",
    "llvm/tools/llvm-objdump/COFF/Inputs/win64-unwind.exe.coff-x86_64.exe",
]

UNWIND_INFO_COMPILED = UNWIND_INFO.compile()


def _pdata_rows(rel):
    pe = pefile.PE(str(corpus_path(rel)), fast_load=True)
    d = pe.OPTIONAL_HEADER.DATA_DIRECTORY[3]
    raw = pe.get_data(d.VirtualAddress, d.Size)
    return pe, [raw[i:i + 12] for i in range(0, len(raw) - len(raw) % 12, 12)]


def _check(struct, data):
    parsed = struct.parse(data)
    assert struct.build(parsed) == data
    return parsed


def test_fixed_sizes_match_winnt_h():
    assert (RUNTIME_FUNCTION.sizeof(), UNWIND_CODE.sizeof(), UNWIND_INFO_HEADER.sizeof()) == (12, 2, 4)


@pytest.mark.parametrize("rel", X64_IMAGES)
def test_every_runtime_function_round_trips(rel):
    _, rows = _pdata_rows(rel)
    for row in rows:
        parsed = _check(RUNTIME_FUNCTION, row)
        assert parsed.BeginAddress <= parsed.EndAddress or row == b"\0" * 12


@pytest.mark.parametrize("rel", X64_IMAGES)
def test_every_unwind_info_round_trips_and_compiled_parse_agrees(rel):
    pe, rows = _pdata_rows(rel)
    seen = set()
    for row in rows:
        rva = RUNTIME_FUNCTION.parse(row).UnwindData & ~1
        if rva in seen or rva == 0:
            continue
        seen.add(rva)
        head = pe.get_data(rva, 4)
        data = pe.get_data(rva, unwind_info_size(head[2], head[0] >> 3))
        parsed = _check(UNWIND_INFO, data)
        assert UNWIND_INFO_COMPILED.parse(data) == parsed
        assert parsed.Header.Version in (1, 2)
    assert seen


def test_header_bit_fields_follow_llvm_objdump_for_win64_unwind():
    # llvm-objdump -u: Version 1, Flags 1 UNW_ExceptionHandler, prolog 18, 8 codes, RBX, offset 0
    pe = pefile.PE(str(corpus_path(X64_IMAGES[-1])), fast_load=True)
    info = UNWIND_INFO.parse(pe.get_data(0x2000, 24))
    h = info.Header
    assert (h.Version, h.Flags.UNW_FLAG_EHANDLER, h.SizeOfProlog, h.CountOfCodes) == (1, True, 18, 8)
    assert (h.FrameRegister, h.FrameOffset) == (3, 0)                      # RBX
    assert [str(c.UnwindOp) for c in info.UnwindCode][:2] == ["UWOP_SET_FPREG", "UWOP_PUSH_NONVOL"]


def test_chained_info_carries_the_parent_runtime_function():
    # llvm-objdump: "Unwind Info Address: 0x201c ... Flags: 4 UNW_ChainInfo"
    pe = pefile.PE(str(corpus_path(X64_IMAGES[-1])), fast_load=True)
    info = _check(UNWIND_INFO, pe.get_data(0x201C, 16))
    assert info.Header.Flags.UNW_FLAG_CHAININFO
    assert (info.ChainedFunction.BeginAddress, info.ChainedFunction.EndAddress,
            info.ChainedFunction.UnwindData) == (0x1000, 0x101B, 0x2000)
    assert info.ExceptionHandler is None
