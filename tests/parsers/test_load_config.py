"""IMAGE_LOAD_CONFIG_DIRECTORY32/64, versioned by Size, on real load configs."""

from __future__ import annotations

import pefile
import pytest

from conftest import corpus_path
from parsers.load_config import (
    IMAGE_LOAD_CONFIG_DIRECTORY32, IMAGE_LOAD_CONFIG_DIRECTORY64, SEHANDLER_TABLE,
    guard_cf_stride, load_config_layout,
)
from pe_roundtrip import assert_roundtrip, pe_load_config_bytes

# Every Size the corpus holds: x86 0x48 0x5C 0xA0 0xB8 0xBC, x64 0x70 0x94 0x100 0x108 0x130
# 0x138 0x140.
LOAD_CONFIG_PES = [
    "llvm/tools/llvm-readobj/COFF/Inputs/coff-load-config-data-end.exe",
    "llvm/tools/llvm-readobj/COFF/Inputs/coff-load-config-x86.dll",
    "mozilla-dump_syms/windows/basic32.dll",
    "rizin-testbins/pe/hello_world/hello_world_od32bit.exe",
    "rizin-testbins/pdb/vs2019_cpp_override.exe",
    "llvm/tools/llvm-symbolizer/Inputs/coff-exports.exe",
    "llvm/tools/llvm-readobj/COFF/Inputs/coff-load-config-x64.dll",
    "mozilla-dump_syms/windows/basic64.dll",
    "llvm/tools/llvm-readobj/COFF/Inputs/has-cet.exe",
    "rizin-testbins/pe/hello_world/hello_world_od64bit.exe",
    "mozilla-dump_syms/windows/mozwer.dll",
    "rizin-testbins/pe/microsoft_seh_tests/x64/xcpt4.exe",
]


@pytest.mark.parametrize("rel", LOAD_CONFIG_PES)
def test_load_config_round_trips_at_its_own_size(rel):
    is64, raw = pe_load_config_bytes(corpus_path(rel))
    lc = assert_roundtrip(load_config_layout(is64), raw)
    assert lc.Size == len(raw)


@pytest.mark.parametrize("rel", LOAD_CONFIG_PES)
def test_load_config_fields_agree_with_pefile(rel):
    path = corpus_path(rel)
    is64, raw = pe_load_config_bytes(path)
    lc = load_config_layout(is64).parse(raw)
    pe = pefile.PE(str(path))
    ref = pe.DIRECTORY_ENTRY_LOAD_CONFIG.struct
    for name in ("SecurityCookie", "SEHandlerTable", "SEHandlerCount",
                 "GuardCFCheckFunctionPointer", "GuardCFFunctionTable", "GuardCFFunctionCount"):
        if lc.get(name) is not None and hasattr(ref, name):
            assert lc[name] == getattr(ref, name), name


def test_a_classic_x86_directory_has_no_guard_fields():
    is64, raw = pe_load_config_bytes(corpus_path(
        "llvm/tools/llvm-readobj/COFF/Inputs/coff-load-config-data-end.exe"))
    lc = IMAGE_LOAD_CONFIG_DIRECTORY32.parse(raw)
    assert lc.Size == 0x48 and lc.SEHandlerCount == 1
    assert lc.GuardFlags is None and lc.GuardCFFunctionTable is None


def test_a_size_inside_a_field_keeps_the_partial_bytes():
    is64, raw = pe_load_config_bytes(corpus_path(
        "llvm/tools/llvm-readobj/COFF/Inputs/coff-load-config-x86.dll"))
    cut = bytearray(raw[:0x4A])
    cut[0:4] = (0x4A).to_bytes(4, "little")
    lc = assert_roundtrip(IMAGE_LOAD_CONFIG_DIRECTORY32, bytes(cut))
    assert lc.GuardCFCheckFunctionPointer is None and lc.Trailing == raw[0x48:0x4A]


def test_x64_layout_puts_process_affinity_before_heap_flags():
    raw = bytearray(0x94)
    raw[0:4] = (0x94).to_bytes(4, "little")
    raw[0x40:0x48] = (0x1122334455667788).to_bytes(8, "little")
    raw[0x48:0x4C] = (0xAABBCCDD).to_bytes(4, "little")
    lc = assert_roundtrip(IMAGE_LOAD_CONFIG_DIRECTORY64, bytes(raw))
    assert lc.ProcessAffinityMask == 0x1122334455667788 and lc.ProcessHeapFlags == 0xAABBCCDD


def test_guard_flags_keep_the_function_table_stride():
    raw = bytearray(0x5C)
    raw[0:4] = (0x5C).to_bytes(4, "little")
    raw[0x58:0x5C] = (0x10013500).to_bytes(4, "little")
    lc = assert_roundtrip(IMAGE_LOAD_CONFIG_DIRECTORY32, bytes(raw))
    assert lc.GuardFlags.IMAGE_GUARD_CF_INSTRUMENTED and guard_cf_stride(lc.GuardFlags) == 1


def test_safeseh_table_is_an_array_of_handler_rvas():
    path = corpus_path("llvm/tools/llvm-readobj/COFF/Inputs/coff-load-config-data-end.exe")
    pe = pefile.PE(str(path))
    lc = pe.DIRECTORY_ENTRY_LOAD_CONFIG.struct
    rva = lc.SEHandlerTable - pe.OPTIONAL_HEADER.ImageBase
    raw = pe.get_data(rva, 4 * lc.SEHandlerCount)
    # llvm-readobj's SEHTable for this file: 0x402006 (ImageBase 0x400000).
    assert list(assert_roundtrip(SEHANDLER_TABLE(lc.SEHandlerCount), raw)) == [0x2006]
