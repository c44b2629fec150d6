"""SymbolLocator: order along the path, verification, mismatches on request, name-only lookups."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import corpus_path
from toolkit.model.debug_id import DebugId
from toolkit.symbols.locator import CodeFileRequest, DebugFileRequest, LocatedFile, SymbolLocator
from toolkit.symbols.symbol_path import SymbolPath


def module_line_id(sym: Path) -> DebugId:
    return DebugId.parse(sym.read_text(errors="replace").split("\n", 1)[0].split()[3])


@pytest.fixture
def store(tmp_path):
    """A flat store holding crash.pdb/.exe/.sym from symbolic's fixtures."""
    root = tmp_path / "store"
    root.mkdir()
    for name in ("crash.pdb", "crash.exe", "crash.sym"):
        shutil.copyfile(corpus_path(f"symbolic/windows/{name}"), root / name)
    return root


@pytest.fixture
def crash_id():
    return module_line_id(corpus_path("symbolic/windows/crash.sym"))


def make(root: Path, tmp_path: Path) -> SymbolLocator:
    return SymbolLocator(SymbolPath.parse(str(root), default_cache=tmp_path / "scratch"))


def test_mismatch_is_returned_unverified_only_when_allowed(store, tmp_path, crash_id):
    other = DebugId(crash_id.guid, crash_id.age + 1)
    assert make(store, tmp_path).find_debug_file("crash.pdb", other) is None
    got = make(store, tmp_path).find_debug_file("crash.pdb", other, allow_mismatch=True)
    assert got.path == store / "crash.pdb" and got.verified is False


def test_code_file_must_carry_the_code_id(store, tmp_path):
    loc = make(store, tmp_path)
    assert loc.find_code_file("crash.exe", "5ab380779000").verified  # any hex case
    assert loc.find_code_file("crash.exe", "5AB380789000") is None
    assert "symbol-id-mismatch" in [p.code for p in loc.problems]


def test_malformed_code_id_is_refused(store, tmp_path):
    loc = make(store, tmp_path)
    assert loc.find_code_file("crash.exe", "../../etc") is None
    assert [p.code for p in loc.problems] == ["unsafe-id"]


def test_find_by_name_lists_flat_and_store_files_unverified(store, tmp_path):
    did_dir = tmp_path / "symstore" / "crash.exe" / "5AB380779000"
    did_dir.mkdir(parents=True)
    shutil.copyfile(store / "crash.exe", did_dir / "crash.exe")
    loc = SymbolLocator(SymbolPath.parse(f"{store};{tmp_path / 'symstore'}",
                                         default_cache=tmp_path / "scratch"))
    found = loc.find_by_name("C:\\app\\crash.exe")
    assert [f.path for f in found] == [store / "crash.exe", did_dir / "crash.exe"]
    assert {f.kind for f in found} == {"pe"} and not any(f.verified for f in found)


def test_find_by_name_refuses_unsafe_names(store, tmp_path):
    loc = make(store, tmp_path)
    assert loc.find_by_name("..") == [] and [p.code for p in loc.problems] == ["unsafe-name"]


def test_prefetch_accepts_request_objects_and_tuples(store, tmp_path, crash_id):
    loc = make(store, tmp_path)
    loc.prefetch([DebugFileRequest("crash.pdb", crash_id), CodeFileRequest("crash.exe", "5AB380779000"),
                  ("crash.pdb", crash_id), ("crash.exe", "5AB380779000")])
    shutil.rmtree(store)  # answers now come from the memo alone
    assert loc.find_debug_file("crash.pdb", crash_id).verified
    assert loc.find_code_file("crash.exe", "5AB380779000").verified


def test_empty_symbol_path_finds_nothing_quietly(tmp_path, crash_id):
    loc = SymbolLocator(SymbolPath.parse("", default_cache=tmp_path))
    assert loc.find_debug_file("crash.pdb", crash_id) is None and loc.problems == []


def test_missing_store_directory_is_not_an_error(tmp_path, crash_id):
    loc = make(tmp_path / "nope", tmp_path)
    assert loc.find_debug_file("crash.pdb", crash_id) is None and loc.problems == []


def test_problems_are_not_repeated(store, tmp_path):
    loc = make(store, tmp_path)
    for _ in range(3):
        loc.find_by_name("CON")
    assert len(loc.problems) == 1


def test_located_file_to_json(store):
    lf = LocatedFile(store / "crash.pdb", "pdb", str(store), True)
    assert lf.to_json() == {"path": str(store / "crash.pdb"), "kind": "pdb",
                            "source": str(store), "verified": True}

