"""IMAGE_DEBUG_DIRECTORY and its records, on the debug directories of real PEs."""

from __future__ import annotations

import uuid

import pefile
import pytest

from conftest import corpus_path
from parsers.pe_debug import (
    CODEVIEW_RECORD, EX_DLLCHARACTERISTICS_RECORD, FPO_DATA, IMAGE_DEBUG_DIRECTORY, POGO_RECORD,
    REPRO_RECORD, VC_FEATURE_RECORD, debug_record, debug_type_name,
)
from pe_roundtrip import assert_roundtrip, pe_debug_entries

# One PE per record kind the corpus holds (CODEVIEW, VC_FEATURE, POGO, ILTCB, REPRO,
# PDBCHECKSUM, EX_DLLCHARACTERISTICS), x86, x64, ARM64, lld and MSVC and Roslyn writers.
DEBUG_PES = [
    "rizin-testbins/pdb/vs2019_cpp_override.exe",
    "symbolic/windows/integration.dll",
    "llvm/tools/llvm-readobj/COFF/Inputs/has-cet.exe",
    "llvm/tools/llvm-readobj/COFF/Inputs/has_pdb.exe",
    "wine/bin/crash-i686-nocrt.exe",
    "rizin-testbins/pe/microsoft_seh_tests/ARM64/xcpt4.exe",
    "rizin-testbins/pe/microsoft_seh_tests/x64/xcpt4.exe",
    "mozilla-dump_syms/windows/basic64.dll",
    "breakpad/dump_syms/pe_only_symbol_test.dll",
]


@pytest.mark.parametrize("rel", DEBUG_PES)
def test_every_debug_entry_and_its_record_round_trip(rel):
    entries = pe_debug_entries(corpus_path(rel))
    assert entries
    for raw_entry, payload in entries:
        entry = assert_roundtrip(IMAGE_DEBUG_DIRECTORY, raw_entry)
        record = assert_roundtrip(debug_record(entry.Type), payload)
        assert record is not None


def test_debug_entry_fields_match_pefile():
    path = corpus_path("llvm/tools/llvm-readobj/COFF/Inputs/has_pdb.exe")
    pe = pefile.PE(str(path))
    for (raw, _), ref in zip(pe_debug_entries(path), pe.DIRECTORY_ENTRY_DEBUG):
        entry = IMAGE_DEBUG_DIRECTORY.parse(raw)
        assert entry.Type.intvalue == ref.struct.Type
        assert (entry.SizeOfData, entry.AddressOfRawData, entry.PointerToRawData) == (
            ref.struct.SizeOfData, ref.struct.AddressOfRawData, ref.struct.PointerToRawData)


def test_codeview_rsds_decodes_the_guid_age_and_name_pefile_reads():
    path = corpus_path("symbolic/windows/crash.exe")
    pe = pefile.PE(str(path))
    ref = [d.entry for d in pe.DIRECTORY_ENTRY_DEBUG if d.struct.Type == 2][0]
    payload = [p for r, p in pe_debug_entries(path) if IMAGE_DEBUG_DIRECTORY.parse(r).Type.intvalue == 2][0]
    cv = assert_roundtrip(CODEVIEW_RECORD, payload)
    assert cv.CvSignature == b"RSDS"
    guid = uuid.UUID(bytes_le=cv.Signature)
    assert (guid.time_low, guid.time_mid, guid.time_hi_version) == (
        ref.Signature_Data1, ref.Signature_Data2, ref.Signature_Data3)
    assert guid.bytes[8:] == bytes([ref.Signature_Data4, ref.Signature_Data5]) + ref.Signature_Data6
    assert cv.Age == ref.Age
    assert cv.PdbFileName.encode() == ref.PdbFileName.rstrip(b"\0")


def test_codeview_with_a_non_utf8_name_falls_back_to_raw_bytes():
    payload = b"RSDS" + bytes(16) + b"\x01\0\0\0" + b"C:\\\xff\xfe.pdb\0"
    cv = assert_roundtrip(CODEVIEW_RECORD, payload)
    assert cv.CvSignature == b"RSDS" and "Age" not in cv


def test_pogo_entries_are_rva_size_and_padded_names():
    path = corpus_path("rizin-testbins/pdb/vs2019_cpp_override.exe")
    payload = [p for r, p in pe_debug_entries(path) if IMAGE_DEBUG_DIRECTORY.parse(r).Type.intvalue == 13][0]
    pogo = assert_roundtrip(POGO_RECORD, payload)
    assert pogo.Signature == "POGO_TYPE_LTCG"
    assert pogo.Entries[0].Name == b".text$mn"
    assert all(a.Rva <= b.Rva for a, b in zip(pogo.Entries, pogo.Entries[1:]))
    assert pogo.Trailing == b""


def test_vc_feature_counts_read_like_dumpbin():
    path = corpus_path("llvm/tools/llvm-readobj/COFF/Inputs/has_pdb.exe")
    payload = [p for r, p in pe_debug_entries(path) if IMAGE_DEBUG_DIRECTORY.parse(r).Type.intvalue == 12][0]
    vc = assert_roundtrip(VC_FEATURE_RECORD, payload)
    # llvm-readobj's RawData for this entry: 00000000 C1000000 C1000000 00000000 C0000000
    assert (vc.PreVC11, vc.CCpp, vc.Gs, vc.Sdl, vc.GuardN) == (0, 0xC1, 0xC1, 0, 0xC0)


def test_ex_dllcharacteristics_names_cet_compat():
    path = corpus_path("llvm/tools/llvm-readobj/COFF/Inputs/has-cet.exe")
    payload = [p for r, p in pe_debug_entries(path) if IMAGE_DEBUG_DIRECTORY.parse(r).Type.intvalue == 20][0]
    ex = assert_roundtrip(EX_DLLCHARACTERISTICS_RECORD, payload)
    assert ex.ExDllCharacteristics.IMAGE_DLLCHARACTERISTICS_EX_CET_COMPAT is True


@pytest.mark.parametrize("payload", [b"", b"\x04\0\0\0abcd", b"\x20\0\0\0" + bytes(range(32))])
def test_repro_is_empty_or_a_length_prefixed_hash(payload):
    repro = assert_roundtrip(REPRO_RECORD, payload)
    assert (repro.get("Hash") or b"") == payload[4:]


def test_ex_dllcharacteristics_keeps_unnamed_bits():
    assert_roundtrip(EX_DLLCHARACTERISTICS_RECORD, b"\x01\x01\0\x80")


def test_fpo_data_bitfields_follow_winnt_h():
    # cbProlog=5 cbRegs=3 fHasSEH=0 fUseBP=1 cbFrame=FRAME_NONFPO: 0x05 | 3<<8 | 1<<12 | 3<<14
    raw = (0x1000).to_bytes(4, "little") + (0x40).to_bytes(4, "little") + (2).to_bytes(4, "little") \
        + (3).to_bytes(2, "little") + (0x05 | 3 << 8 | 1 << 12 | 3 << 14).to_bytes(2, "little")
    fpo = assert_roundtrip(FPO_DATA, raw)
    a = fpo.Attributes
    assert (a.cbProlog, a.cbRegs, a.fHasSEH, a.fUseBP, a.cbFrame) == (5, 3, False, True, "FRAME_NONFPO")


def test_unknown_types_stay_raw_bytes():
    assert_roundtrip(debug_record(0x99), b"\x01\x02\x03")
    assert debug_type_name(0x99) == "TYPE_0x99"
    assert debug_type_name("IMAGE_DEBUG_TYPE_POGO") == "POGO"
