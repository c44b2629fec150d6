"""The MODLOAD_DATA debug blob: built from a PE's debug directory, parsed back to the same."""

from __future__ import annotations

import pytest

from conftest import corpus_path
from parsers.modload_data import (
    MODLOAD_DATA32, MODLOAD_DATA64, MODLOAD_DEBUGDIRS, build_debug_blob, entry_count,
    looks_like_debug_blob, parse_debug_blob,
)
from parsers.pe_debug import IMAGE_DEBUG_DIRECTORY, IMAGE_DEBUG_DIRECTORY_SIZE
from pe_roundtrip import assert_roundtrip, pe_debug_entries
from toolkit.model.errors import CorruptInput

BLOB_PES = [
    "rizin-testbins/pdb/vs2019_cpp_override.exe",     # CODEVIEW VC_FEATURE POGO ILTCB(empty)
    "symbolic/windows/integration.dll",               # CODEVIEW PDBCHECKSUM REPRO(empty)
    "llvm/tools/llvm-readobj/COFF/Inputs/has-cet.exe",
]


def _records(rel):
    return [(IMAGE_DEBUG_DIRECTORY.parse(e), p) for e, p in pe_debug_entries(corpus_path(rel))]


@pytest.mark.parametrize("rel", BLOB_PES)
def test_blob_parses_back_to_the_pe_payloads(rel):
    records = _records(rel)
    blob = build_debug_blob(records)
    back = parse_debug_blob(blob)
    assert [p for _, p in back] == [p for _, p in records]
    assert [e.Type for e, _ in back] == [e.Type for e, _ in records]
    assert [e.TimeDateStamp for e, _ in back] == [e.TimeDateStamp for e, _ in records]


@pytest.mark.parametrize("rel", BLOB_PES)
def test_blob_offsets_count_from_each_entry(rel):
    records = _records(rel)
    blob = build_debug_blob(records)
    head = IMAGE_DEBUG_DIRECTORY_SIZE * len(records)
    at = head
    for i, (entry, _) in enumerate(parse_debug_blob(blob)):
        assert entry.AddressOfRawData == 0
        if entry.SizeOfData:
            assert i * IMAGE_DEBUG_DIRECTORY_SIZE + entry.PointerToRawData == at
            at += entry.SizeOfData
    assert at == len(blob)


@pytest.mark.parametrize("rel", BLOB_PES)
def test_blob_round_trips_through_construct(rel):
    blob = build_debug_blob(_records(rel))
    assert_roundtrip(MODLOAD_DEBUGDIRS(entry_count(blob)), blob)


def test_entry_count_is_recovered_from_the_first_payload():
    records = _records("rizin-testbins/pdb/vs2019_cpp_override.exe")
    assert entry_count(build_debug_blob(records)) == len(records) == 4


def test_a_payload_past_the_end_is_corrupt():
    blob = bytearray(build_debug_blob(_records("llvm/tools/llvm-readobj/COFF/Inputs/has-cet.exe")))
    with pytest.raises(CorruptInput):
        parse_debug_blob(bytes(blob[:-1]), count=2)


def test_content_detection_tells_a_blob_from_a_pe():
    pe = corpus_path("llvm/tools/llvm-readobj/COFF/Inputs/has-cet.exe").read_bytes()
    blob = build_debug_blob(_records("llvm/tools/llvm-readobj/COFF/Inputs/has-cet.exe"))
    assert looks_like_debug_blob(blob)
    assert not looks_like_debug_blob(pe)
    assert not looks_like_debug_blob(b"\xff" * 64)


def test_modload_data_header_layouts_follow_dbghelp_h():
    assert MODLOAD_DATA32.sizeof() == 0x14 and MODLOAD_DATA64.sizeof() == 0x18
    raw = b"\x18\0\0\0\x01\0\0\0" + (0x1000).to_bytes(8, "little") + b"\x40\0\0\0\0\0\0\0"
    hdr = assert_roundtrip(MODLOAD_DATA64, raw)
    assert hdr.ssig == "DBHHEADER_DEBUGDIRS" and hdr.size == 0x40
