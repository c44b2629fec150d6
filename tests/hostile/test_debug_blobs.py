"""Files that are not debug-directory blobs (issue 12) are refused in one line, fast: zeros,
too many entries, payloads before the entries or past the blob. A real blob still decodes."""

from __future__ import annotations

import os

import pytest

from parsers.modload_data import (MAX_BLOB_ENTRIES, build_debug_blob, entry_count,
                                  looks_like_debug_blob, parse_debug_blob)
from tests.hostile.hostile_inputs import REPO, run_dumpkit
from toolkit.model.errors import CorruptInput

CODEVIEW = {"Characteristics": 0, "TimeDateStamp": 0, "MajorVersion": 0, "MinorVersion": 0,
            "Type": "IMAGE_DEBUG_TYPE_CODEVIEW"}


def test_debugdir_refuses_a_megabyte_of_zeros_in_one_line(tmp_path):
    zeros = tmp_path / "zeros.bin"
    zeros.write_bytes(bytes(1 << 20))
    out = run_dumpkit("debugdir", str(zeros))
    assert out.returncode == 2 and out.stderr.startswith("InputError: ")
    assert len(out.stderr.splitlines()) == 1


def test_entry_count_reads_at_most_the_bound_on_any_size():
    assert entry_count(bytes(64 << 20)) == MAX_BLOB_ENTRIES + 1


def test_more_entries_than_the_bound_are_corrupt():
    blob = build_debug_blob([(CODEVIEW, b"RSDS" + bytes(20))] * (MAX_BLOB_ENTRIES + 1))
    assert not looks_like_debug_blob(blob)
    with pytest.raises(CorruptInput):
        parse_debug_blob(blob)


def test_unknown_type_entries_are_no_blob():
    assert not looks_like_debug_blob(build_debug_blob([(dict(CODEVIEW, Type=0), b"x" * 8)]))


def test_a_payload_pointing_back_into_the_entries_is_no_blob():
    blob = bytearray(build_debug_blob([(CODEVIEW, b"RSDS" + bytes(20))]))
    blob[0x18:0x1C] = (0).to_bytes(4, "little")           # PointerToRawData -> the entry itself
    assert not looks_like_debug_blob(bytes(blob))


def test_random_bytes_are_no_blob():
    assert not looks_like_debug_blob(os.urandom(1 << 16))


def test_the_blob_of_a_real_image_still_decodes(tmp_path):
    blob = tmp_path / "seh_x86.dbgblob"
    out = run_dumpkit("debugdir", str(REPO / "samples/bin/seh_x86.exe"), "--blob", str(blob))
    assert out.returncode == 0, out.stderr
    assert looks_like_debug_blob(blob.read_bytes())
    out = run_dumpkit("debugdir", str(blob))
    assert out.returncode == 0 and "Kind: blob" in out.stdout
