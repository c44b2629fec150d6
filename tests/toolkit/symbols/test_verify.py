"""verify reads the ids a file carries: PDB GUID+age, PE CodeView + code id, .sym MODULE line."""

from __future__ import annotations

import pytest

from conftest import corpus_path
from toolkit.model.debug_id import DebugId
from toolkit.symbols.verify import code_id_of, debug_ids_of, sniff

CRASH_ID = DebugId.parse("3249D99D-0C40-4931-8610-F4E4FB0B6936-1")


def test_pdb_carries_its_guid_and_age():
    assert debug_ids_of(corpus_path("symbolic/windows/crash.pdb")) == {CRASH_ID}


def test_pe_carries_the_codeview_id_of_its_pdb():
    assert debug_ids_of(corpus_path("symbolic/windows/crash.exe")) == {CRASH_ID}


def test_sym_carries_the_id_on_its_module_line():
    assert debug_ids_of(corpus_path("symbolic/windows/crash.sym")) == {CRASH_ID}


def test_breakpad_store_sym_matches_its_directory_name():
    path = corpus_path("breakpad/processor/symbols/test_app.pdb/"
                       "5A9832E5287241C1838ED98914E9B7FF1/test_app.sym")
    assert {d.breakpad for d in debug_ids_of(path)} == {path.parent.name}


@pytest.mark.parametrize("rel, code_id", [
    ("symbolic/windows/crash.exe", "5AB380779000"),  # MANIFEST: TimeDateStamp 0x5ab38077, 0x9000
    ("breakpad/dump_syms/dump_syms_regtest64.exe", "589DFD111a000"),
])
def test_pe_code_id_is_timestamp_and_size_of_image(rel, code_id):
    assert code_id_of(corpus_path(rel)) == code_id


def test_sym_code_id_comes_from_the_module_line():
    assert code_id_of(corpus_path("breakpad/dump_syms/dump_syms_regtest64.sym")) == "589DFD111a000"


def test_sym_code_id_comes_from_info_code_id_line():
    assert code_id_of(corpus_path("mozilla-dump_syms/windows/basic32.sym")) == "5DDC1E9A6c000"


def test_malformed_pdb_carries_no_id():
    assert debug_ids_of(corpus_path("llvm/DebugInfo/PDB/Inputs/bad-block-size.pdb")) == set()


def test_truncated_pdb_carries_no_id(tmp_path):
    data = corpus_path("symbolic/windows/crash.pdb").read_bytes()
    cut = tmp_path / "crash.pdb"
    cut.write_bytes(data[: len(data) // 3])
    assert debug_ids_of(cut) == set()


def test_sniff_names_the_container_kind():
    assert sniff(corpus_path("mozilla-dump_syms/windows/basic32.pd_")) == "cab"
    assert sniff(corpus_path("symbolic/windows/crash.pdb")) == "pdb"
    assert sniff(corpus_path("symbolic/windows/crash.exe")) == "pe"
