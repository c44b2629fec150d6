"""The PDB's own procedure and public records (toolkit/symbols/pdb_records.py) and how the
resolver answers with them where symbolic's SymCache has nothing (issue 11, items 7 and 8)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import corpus_path
from toolkit.model.errors import CorruptInput
from toolkit.symbols.batch import symbolize_batch
from toolkit.symbols.location import SymbolStatus
from toolkit.symbols.module_index import ModuleIndex
from toolkit.symbols.pdb_records import read_pdb_records, split_parameters, undecorate_c
from toolkit.symbols.resolver import Resolver
from toolkit.targets.trace import capture_module

pytest.importorskip("symbolic")

COLUMNS = "llvm/tools/llvm-symbolizer/pdb/Inputs/test-columns"      # AMD64, llvm's own test
REGTEST64 = "breakpad/dump_syms/dump_syms_regtest64"                 # AMD64, Breakpad's
SIMPLE = "rizin-testbins/pdb/SimplePDB"                              # i386


def setup(tmp_path: Path, stem: str, pdb_name: str = ""):
    """Resolver over a store holding the pair's PDB, and the image's module."""
    store = tmp_path / "store"
    store.mkdir(exist_ok=True)
    pdb = corpus_path(stem + ".pdb")
    shutil.copy(pdb, store / (pdb_name or pdb.name))
    module = capture_module(corpus_path(stem + ".exe"))[0].to_module()
    return Resolver.from_symbol_path(str(store), cache_dir=tmp_path / "cache"), module, store


def test_reader_lists_procedures_with_length_and_publics_decorated():
    records = read_pdb_records(corpus_path(SIMPLE + ".pdb"))
    at = records.names_at
    assert (0, "main") in at[0x1010] and (1, "_main") in at[0x1010]
    main = [i for i, n in enumerate(records.names) if n == "main" and records.kind[i] == 0][0]
    assert int(records.size[main]) == 8
    assert (1, "@__security_check_cookie@4") in at[0x1018]


def test_reader_refuses_a_file_that_is_not_an_msf_pdb():
    with pytest.raises(CorruptInput):
        read_pdb_records(corpus_path(SIMPLE + ".exe"))


def test_address_in_padding_after_a_static_function_names_the_nearest_public(tmp_path):
    # 0x1030 private_symbol (1 byte, static: no public); 0x1031.. is padding up to foo_cdecl.
    # dbghelp and llvm-symbolizer name it after the nearest preceding public: main (0x1010).
    resolver, module, _ = setup(tmp_path, COLUMNS)
    loc = resolver.lookup(module, module.base + 0x1031)
    assert (loc.symbol, loc.displacement, loc.status) == ("main", 0x21, SymbolStatus.PUBLIC)
    assert loc.format() == "test-columns!main+0x21"


def test_procedure_record_containing_the_address_wins_over_the_public_before_it():
    records = read_pdb_records(corpus_path(COLUMNS + ".pdb"))
    assert records.nearest(0x1030) == ("private_symbol", 0x1030, False)
    assert records.nearest(0x1031) == ("main", 0x1010, True)


def test_batch_lookup_marks_padding_answers_as_public_too(tmp_path):
    resolver, module, _ = setup(tmp_path, COLUMNS)
    result = symbolize_batch(resolver, ModuleIndex([module]),
                             np.array([module.base + 0x1031, module.base + 0x1012], np.uint64))
    padding, inside = (result.location(i, resolver) for i in range(2))
    assert (padding.symbol, padding.displacement, padding.status) == \
        ("main", 0x21, SymbolStatus.PUBLIC)
    assert (inside.symbol, inside.status) == ("main()", SymbolStatus.EXACT)


def test_records_are_cached_beside_the_symcache_so_the_pdb_is_not_read_again(tmp_path):
    resolver, module, store = setup(tmp_path, COLUMNS)
    resolver.lookup(module, module.base + 0x1031)
    cached = sorted(p.name for p in (tmp_path / "cache" / "symcache").iterdir())
    assert any(name.endswith("-pdb.records.npz") for name in cached)
    shutil.rmtree(store)
    again = Resolver.from_symbol_path(str(tmp_path / "nowhere"), cache_dir=tmp_path / "cache")
    loc = again.lookup(module, module.base + 0x1031)
    assert (loc.symbol, loc.status) == ("main", SymbolStatus.PUBLIC)


@pytest.mark.parametrize("rva, name", [(0x2A6C + 0x10, "__C_specific_handler"),
                                       (0xB990 + 4, "__tmainCRTStartup$filt$0"),
                                       (0x1B40 + 2, "_exit")])
def test_x64_names_keep_their_leading_underscores(tmp_path, rva, name):
    resolver, module, _ = setup(tmp_path, REGTEST64)
    # symbolic appends the parameter list ("_exit(int)"); the name before it is the PDB's
    assert split_parameters(resolver.lookup(module, module.base + rva).symbol)[0] == name


def test_x64_batch_names_keep_their_leading_underscores(tmp_path):
    resolver, module, _ = setup(tmp_path, REGTEST64)
    result = symbolize_batch(resolver, ModuleIndex([module]),
                             np.array([module.base + 0x2A6C + 0x10], np.uint64))
    assert split_parameters(result.names()[0])[0] == "__C_specific_handler"


def test_x86_masm_procedure_is_undecorated_like_its_public(tmp_path):
    # MASM records __SEH_prolog4 (the decorated public name) as the PROC's name; WinDbg and
    # llvm-symbolizer both print _SEH_prolog4.
    resolver, module, _ = setup(tmp_path, SIMPLE)
    symbol = resolver.lookup(module, module.base + 0x1780 + 3).symbol
    assert split_parameters(symbol)[0] == "_SEH_prolog4"


@pytest.mark.parametrize("raw, x86, want", [
    ("_main", True, "main"), ("_Sleep@4", True, "Sleep"), ("@__security_check_cookie@4", True,
                                                            "__security_check_cookie"),
    ("__SEH_prolog4", True, "_SEH_prolog4"), ("?foo@@YAXXZ", True, "?foo@@YAXXZ"),
    ("__C_specific_handler", False, "__C_specific_handler"), ("_exit", False, "_exit"),
    ("foo_vectorcall@@0", False, "foo_vectorcall@@0"), ("foo_vectorcall@@0", True, "foo_vectorcall")])
def test_only_x86_c_names_are_undecorated(raw, x86, want):
    assert undecorate_c(raw, x86) == want
