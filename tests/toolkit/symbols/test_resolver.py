"""Resolver: find the symbol file on the symbol path, verify its id, cache a SymCache by id."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import corpus_path
from toolkit.model.errors import DumpkitError, SymbolEngineUnavailable
from toolkit.symbols.location import SymbolStatus
from toolkit.symbols.resolver import (
    Resolver, identity_of_image, require_symbolic,
)
from toolkit.model.target import Module
from toolkit.targets.trace import capture_module

pytest.importorskip("symbolic")


def crash_module() -> Module:
    return capture_module(corpus_path("symbolic/windows/crash.exe"))[0].to_module()


def store_with(tmp_path: Path, *rels: str, rename: str = "") -> Path:
    store = tmp_path / "store"
    store.mkdir()
    for rel in rels:
        shutil.copy(corpus_path(rel), store / (rename or Path(rel).name))
    return store


def resolver(tmp_path: Path, store: Path, **kw) -> Resolver:
    return Resolver.from_symbol_path(str(store), cache_dir=tmp_path / "cache", **kw)


def test_matching_pdb_gives_exact_function_line_and_displacement(tmp_path):
    r = resolver(tmp_path, store_with(tmp_path, "symbolic/windows/crash.pdb"))
    loc = r.lookup(crash_module(), 0x402A3D)
    assert (loc.symbol, loc.displacement, loc.line) == ("main(int, char**)", 0x12D, 35)
    assert loc.status is SymbolStatus.EXACT


def test_inline_chain_is_innermost_first_as_in_symbolics_snapshot(tmp_path):
    # EXPECTED_FROM_SOURCE.md: main at 0x2910 has an inlinee at 0x2a3d named `anonymous namespace'::start()
    r = resolver(tmp_path, store_with(tmp_path, "symbolic/windows/crash.pdb"))
    loc = r.lookup(crash_module(), 0x402A3D, inlines=True)
    assert [f.function for f in loc.inlines] == ["`anonymous namespace'::crash()",
                                                 "`anonymous namespace'::start()"]


def test_symcache_and_function_table_are_cached_by_debug_id_and_reused(tmp_path):
    first = resolver(tmp_path, store_with(tmp_path, "symbolic/windows/crash.pdb"))
    first.lookup(crash_module(), 0x401000)
    cached = sorted(p.name for p in (tmp_path / "cache" / "symcache").iterdir())
    assert cached == ["3249D99D0C4049318610F4E4FB0B69361-pdb.npz",
                      "3249D99D0C4049318610F4E4FB0B69361-pdb.records.npz",
                      "3249D99D0C4049318610F4E4FB0B69361-pdb.symc"]
    warm = Resolver(None, tmp_path / "cache")          # no symbol path at all
    syms = warm.symbols_for(crash_module())
    assert syms.status is SymbolStatus.EXACT and syms.source.suffix == ".symc"


def test_pdb_with_another_id_is_refused_with_a_reason(tmp_path):
    store = store_with(tmp_path, "llvm/tools/llvm-symbolizer/pdb/Inputs/test.pdb", rename="crash.pdb")
    loc = resolver(tmp_path, store).lookup(crash_module(), 0x402A3D)
    assert loc.status is SymbolStatus.MISSING and loc.symbol is None
    assert "crash.pdb" in loc.reason


def test_allow_mismatch_uses_the_wrong_pdb_and_marks_every_answer(tmp_path):
    store = store_with(tmp_path, "llvm/tools/llvm-symbolizer/pdb/Inputs/test.pdb", rename="crash.pdb")
    loc = resolver(tmp_path, store, allow_mismatch=True).lookup(crash_module(), 0x401380)
    assert loc.status is SymbolStatus.MISMATCHED
    assert loc.symbol == "foo()"                       # what the wrong PDB holds at that RVA


def test_breakpad_sym_serves_when_no_pdb_is_there(tmp_path):
    store = store_with(tmp_path, "symbolic/windows/crash.sym")
    loc = resolver(tmp_path, store).lookup(crash_module(), 0x402A3D)
    assert loc.status is SymbolStatus.EXACT and loc.symbol == "main"


def test_module_known_only_by_name_takes_its_debug_id_from_the_binary(tmp_path):
    store = store_with(tmp_path, "symbolic/windows/crash.exe", "symbolic/windows/crash.pdb")
    loc = resolver(tmp_path, store).lookup(Module(0, 1 << 32, "crash.exe"), 0x2A3D)
    assert loc.symbol == "main(int, char**)"


def test_image_alone_gives_export_symbols(tmp_path):
    store = store_with(tmp_path, "mozilla-dump_syms/windows/basic32.dll")
    module = capture_module(corpus_path("mozilla-dump_syms/windows/basic32.dll"))[0].to_module()
    syms = resolver(tmp_path, store).symbols_for(module)
    assert syms.status is SymbolStatus.EXPORT and syms.table.function_count > 0


def test_nothing_on_the_path_is_missing_with_the_wanted_id_in_the_reason(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    loc = resolver(tmp_path, empty).lookup(crash_module(), 0x402A3D)
    assert loc.status is SymbolStatus.MISSING
    assert "3249D99D0C4049318610F4E4FB0B69361" in loc.reason
    assert loc.format(4) == "crash+0x2a3d"


def test_identity_of_image_reads_the_codeview_record():
    ident = identity_of_image(corpus_path("symbolic/windows/crash.exe"))
    assert str(ident.debug_id) == "3249D99D0C4049318610F4E4FB0B69361"  # EXPECTED_FROM_SOURCE.md
    assert ident.code_id == "5AB380779000"
    assert ident.size_of_image == int(ident.code_id[8:], 16)


def test_identity_of_a_file_that_is_not_a_pe_is_empty():
    ident = identity_of_image(corpus_path("symbolic/windows/crash.pdb"))
    assert (ident.debug_id, ident.pdb_name, ident.code_id) == (None, None, None)


def test_missing_symbolic_is_one_line_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "symbolic", None)
    with pytest.raises(SymbolEngineUnavailable, match="needs the debugger engine .* or a non-Windows host"):
        require_symbolic()
    assert issubclass(SymbolEngineUnavailable, DumpkitError)      # the CLI prints one line
