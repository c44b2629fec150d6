"""Derived SymCache/.npz files stay beside their source: a PDB downloaded into the cache that
``srv*CACHE*URL`` names derives there, not into the default cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import corpus_path
from symserver import SymServer, store_file
from toolkit.model.debug_id import DebugId
from toolkit.model.target import Module
from toolkit.symbols.resolver import Resolver

pytest.importorskip("symbolic")


def crash_module(did: DebugId) -> Module:
    return Module(base=0x400000, size=0x10000, path="C:\\app\\crash.exe", debug_id=did,
                  pdb_name="crash.pdb")


def crash_id() -> DebugId:
    sym = corpus_path("symbolic/windows/crash.sym").read_text(errors="replace")
    return DebugId.parse(sym.split("\n", 1)[0].split()[3])


def derived(root: Path) -> list:
    return sorted(p.name for p in (root / "symcache").glob("*")) if root.is_dir() else []


def test_symbols_from_a_named_cache_derive_into_that_cache(tmp_path):
    did = crash_id()
    named = tmp_path / "named-cache"
    default = Path(os.environ["DUMPKIT_SYMBOL_CACHE"])
    with SymServer(tmp_path / "server") as server:
        store_file(server.root, "crash.pdb", did.breakpad, corpus_path("symbolic/windows/crash.pdb"))
        resolver = Resolver.from_symbol_path(f"srv*{named}*{server.url}")
        syms = resolver.symbols_for(crash_module(did))
    assert syms.has_symbols and syms.source == named / "crash.pdb" / did.breakpad / "crash.pdb"
    assert {f"{did.breakpad}-pdb.npz", f"{did.breakpad}-pdb.symc"} <= set(derived(named))
    assert derived(default) == []


def test_a_later_run_finds_the_derived_files_in_the_named_cache(tmp_path):
    did = crash_id()
    named = tmp_path / "named-cache"
    with SymServer(tmp_path / "server") as server:
        store_file(server.root, "crash.pdb", did.breakpad, corpus_path("symbolic/windows/crash.pdb"))
        Resolver.from_symbol_path(f"srv*{named}*{server.url}").symbols_for(crash_module(did))
        again = Resolver.from_symbol_path(f"srv*{named}*{server.url}")
        syms = again.symbols_for(crash_module(did))
        assert server.count() == 1               # the second run asked nobody
    assert syms.source == named / "symcache" / f"{did.breakpad}-pdb.symc"


def test_symbols_from_the_users_own_directory_derive_into_the_default_cache(tmp_path):
    did = crash_id()
    own = tmp_path / "own"
    own.mkdir()
    (own / "crash.pdb").write_bytes(corpus_path("symbolic/windows/crash.pdb").read_bytes())
    syms = Resolver.from_symbol_path(str(own)).symbols_for(crash_module(did))
    assert syms.has_symbols
    assert sorted(p.name for p in own.iterdir()) == ["crash.pdb"]
    assert {f"{did.breakpad}-pdb.npz", f"{did.breakpad}-pdb.symc"} <= \
        set(derived(Path(os.environ["DUMPKIT_SYMBOL_CACHE"])))
