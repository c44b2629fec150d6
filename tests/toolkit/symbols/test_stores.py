"""Every local store layout finds the right file, and only a file with the wanted id."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

from conftest import corpus_path
from toolkit.model.debug_id import DebugId
from toolkit.symbols import cab
from toolkit.symbols.locator import SymbolLocator
from toolkit.symbols.stores import candidates, read_file_ptr, sym_name
from toolkit.symbols.symbol_path import SymbolPath


def module_line_id(sym: Path) -> DebugId:
    """The id written on a .sym's MODULE line, read here by hand (independent of verify.py)."""
    return DebugId.parse(sym.read_text(errors="replace").split("\n", 1)[0].split()[3])


@pytest.fixture
def crash():
    pdb = corpus_path("symbolic/windows/crash.pdb")
    return pdb, module_line_id(corpus_path("symbolic/windows/crash.sym"))


def locate(store: Path, name: str, did: DebugId, tmp_path: Path, kinds=("pdb", "sym")):
    loc = SymbolLocator(SymbolPath.parse(str(store), default_cache=tmp_path / "scratch"))
    return loc, loc.find_debug_file(name, did, kinds)


def put(root: Path, rel: str, source: Path) -> Path:
    dest = root / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, dest)
    return dest


def test_flat_directory_finds_pdb_by_name(tmp_path, crash):
    pdb, did = crash
    put(tmp_path / "store", "crash.pdb", pdb)
    _, found = locate(tmp_path / "store", "C:\\build\\crash.pdb", did, tmp_path)
    assert found.path == tmp_path / "store" / "crash.pdb" and found.verified and found.kind == "pdb"


def test_symbol_store_layout_finds_pdb_under_its_id(tmp_path, crash):
    pdb, did = crash
    dest = put(tmp_path / "store", f"crash.pdb/{did.breakpad}/crash.pdb", pdb)
    _, found = locate(tmp_path / "store", "crash.pdb", did, tmp_path)
    assert found.path == dest and found.verified


def test_two_tier_store_with_index2_finds_pdb_under_two_letter_folder(tmp_path, crash):
    pdb, did = crash
    store = tmp_path / "store"
    dest = put(store, f"cr/crash.pdb/{did.breakpad}/crash.pdb", pdb)
    (store / "index2.txt").write_text("")
    _, found = locate(store, "crash.pdb", did, tmp_path)
    assert found.path == dest and found.verified


def test_two_tier_folder_is_ignored_without_index2(tmp_path, crash):
    pdb, did = crash
    put(tmp_path / "store", f"cr/crash.pdb/{did.breakpad}/crash.pdb", pdb)
    _, found = locate(tmp_path / "store", "crash.pdb", did, tmp_path)
    assert found is None


def test_breakpad_layout_finds_sym_in_the_corpus_tree(tmp_path):
    sym = corpus_path("breakpad/processor/symbols/test_app.pdb/"
                      "5A9832E5287241C1838ED98914E9B7FF1/test_app.sym")
    store = sym.parents[2]
    _, found = locate(store, "c:\\test_app.pdb", module_line_id(sym), tmp_path)
    assert found.path == sym and found.kind == "sym" and found.verified


def test_pdb_is_preferred_over_sym_in_the_same_directory(tmp_path, crash):
    pdb, did = crash
    put(tmp_path / "store", "crash.sym", corpus_path("symbolic/windows/crash.sym"))
    put(tmp_path / "store", "crash.pdb", pdb)
    _, found = locate(tmp_path / "store", "crash.pdb", did, tmp_path)
    assert found.kind == "pdb"


def test_sym_only_request_skips_the_pdb(tmp_path, crash):
    pdb, did = crash
    put(tmp_path / "store", "crash.pdb", pdb)
    put(tmp_path / "store", "crash.sym", corpus_path("symbolic/windows/crash.sym"))
    _, found = locate(tmp_path / "store", "crash.pdb", did, tmp_path, kinds=("sym",))
    assert found.kind == "sym" and found.path.name == "crash.sym"


def test_file_with_another_id_is_not_returned(tmp_path, crash):
    pdb, did = crash
    put(tmp_path / "store", "crash.pdb", pdb)
    other = DebugId(did.guid, did.age + 1)
    loc, found = locate(tmp_path / "store", "crash.pdb", other, tmp_path)
    assert found is None
    assert [p.code for p in loc.problems] == ["symbol-id-mismatch"]


def test_later_store_supplies_the_match_when_an_earlier_one_holds_a_wrong_build(tmp_path, crash):
    pdb, did = crash
    put(tmp_path / "a", "crash.pdb", corpus_path("symbolic/windows/CrashWithException.pdb"))
    put(tmp_path / "b", "crash.pdb", pdb)
    loc = SymbolLocator(SymbolPath.parse(f"{tmp_path / 'a'};{tmp_path / 'b'}",
                                         default_cache=tmp_path / "scratch"))
    found = loc.find_debug_file("crash.pdb", did)
    assert found.path == tmp_path / "b" / "crash.pdb" and found.source == str(tmp_path / "b")


def test_file_ptr_redirects_to_the_real_file(tmp_path, crash):
    pdb, did = crash
    real = put(tmp_path / "elsewhere", "crash.pdb", pdb)
    ptr = tmp_path / "store" / "crash.pdb" / did.breakpad / "file.ptr"
    ptr.parent.mkdir(parents=True)
    ptr.write_text(f"PATH:{real}")
    _, found = locate(tmp_path / "store", "crash.pdb", did, tmp_path)
    assert found.path == real and found.verified


def test_file_ptr_message_is_not_a_location(tmp_path):
    ptr = tmp_path / "file.ptr"
    ptr.write_text("MSG: file is not available")
    assert read_file_ptr(ptr) is None


def basic32_id() -> DebugId:
    return module_line_id(corpus_path("mozilla-dump_syms/windows/basic32.sym"))


def test_compressed_pd_is_expanded_into_the_cache_and_verified(tmp_path):
    store = tmp_path / "store"
    put(store, "basic32.pd_", corpus_path("mozilla-dump_syms/windows/basic32.pd_"))
    loc, found = locate(store, "basic32.pdb", basic32_id(), tmp_path, kinds=("pdb",))
    assert found is not None and found.verified, loc.problems
    assert found.path == tmp_path / "scratch" / "basic32.pdb" / basic32_id().breakpad / "basic32.pdb"
    assert sorted(p.name for p in store.iterdir()) == ["basic32.pd_"]  # the store is not written


@pytest.mark.skipif(not shutil.which("cabextract"), reason="cabextract not on PATH")
def test_cabextract_and_the_builtin_reader_expand_the_same_bytes(tmp_path):
    pd_ = corpus_path("mozilla-dump_syms/windows/basic32.pd_")
    ours = cab.expand(pd_, tmp_path, 1 << 30)
    theirs = cab._expand_cabextract(shutil.which("cabextract"), pd_, tmp_path, 1 << 30, 60.0)
    assert ours.read_bytes() == theirs.read_bytes()
    assert ours.read_bytes()[:32] == b"Microsoft C/C++ MSF 7.00\r\n\x1aDS\0\0\0"


def test_lzx_cab_without_cabextract_says_cabextract_is_needed(tmp_path, monkeypatch):
    monkeypatch.setattr(cab.shutil, "which", lambda name: None)
    data = bytearray(corpus_path("mozilla-dump_syms/windows/basic32.pd_").read_bytes())
    assert struct.unpack_from("<H", data, 36 + 6)[0] & 0xF == 1  # the corpus CAB is MSZIP
    struct.pack_into("<H", data, 36 + 6, 0x1503)  # LZX, window 2^21, as the public server uses
    store = tmp_path / "store"
    store.mkdir()
    (store / "basic32.pd_").write_bytes(bytes(data))
    loc, found = locate(store, "basic32.pdb", basic32_id(), tmp_path, kinds=("pdb",))
    assert found is None
    assert [p.code for p in loc.problems] == ["cab-unsupported"]
    assert "LZX" in loc.problems[0].message and "cabextract" in loc.problems[0].message


def test_cab_expanding_past_the_size_cap_is_refused_before_decompressing(tmp_path):
    store = tmp_path / "store"
    put(store, "basic32.pd_", corpus_path("mozilla-dump_syms/windows/basic32.pd_"))
    loc = SymbolLocator(SymbolPath.parse(str(store), default_cache=tmp_path / "scratch"),
                        max_download_bytes=1024 * 1024)
    assert loc.find_debug_file("basic32.pdb", basic32_id(), ("pdb",)) is None
    assert [p.code for p in loc.problems] == ["download-too-large"]


def test_candidates_never_propose_paths_outside_the_store(tmp_path, crash):
    pdb, did = crash
    put(tmp_path, "secret.pdb", pdb)
    store = tmp_path / "store"
    store.mkdir()
    assert list(candidates(store, "../secret.pdb", did.breakpad, ("pdb",))) == []


def test_sym_name_follows_the_pdb_stem():
    assert sym_name("crash.pdb") == "crash.sym"
    assert sym_name("tiny.exe.pdb") == "tiny.exe.sym"
    assert sym_name("libfoo.so") == "libfoo.so.sym"


def test_upper_case_module_name_finds_the_lower_case_store_entry(tmp_path):
    sym = corpus_path("breakpad/processor/symbols/kernel32.pdb/"
                      "BCE8785C57B44245A669896B6A19B9542/kernel32.sym")
    _, found = locate(sym.parents[2], "KERNEL32.pdb", module_line_id(sym), tmp_path)
    assert found is not None and found.path == sym
