"""Batched lookups: numpy arrays give the same answers as symbolic's SymCache.lookup."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from tests.conftest import corpus_path
from toolkit.symbols.batch import symbolize_batch
from toolkit.symbols.function_table import FunctionTable
from toolkit.symbols.module_index import ModuleIndex
from toolkit.symbols.resolver import Resolver
from toolkit.model.target import Module
from toolkit.targets.trace import capture_module

pytest.importorskip("symbolic")


@pytest.fixture
def crash(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    shutil.copy(corpus_path("symbolic/windows/crash.pdb"), store)
    r = Resolver.from_symbol_path(str(store), cache_dir=tmp_path / "cache")
    module = capture_module(corpus_path("symbolic/windows/crash.exe"))[0].to_module()
    return r, module


def every_range_address(table: FunctionTable, base: int) -> np.ndarray:
    starts = table.range_starts.astype(np.uint64) + np.uint64(base)
    return np.concatenate([starts, starts + np.uint64(1)])


def test_batch_agrees_with_symcache_lookup_on_every_range_of_crash_pdb(crash):
    r, module = crash
    table = r.symbols_for(module).table
    addrs = every_range_address(table, module.base)
    result = symbolize_batch(r, ModuleIndex([module]), addrs)
    names, lines, files = result.names(), result.lines(), result.files()
    symcache = r.symbols_for(module).symcache
    for i, addr in enumerate(addrs.tolist()):
        one = r.lookup(module, addr, lines=False)      # also answers from the PDB's records
        assert (names[i], int(result.displacement[i])) == (one.symbol, one.displacement)
        assert result.location(i, r).status is one.status
        frames = symcache.lookup(addr - module.base)
        if frames:
            assert (int(lines[i]), files[i]) == (frames[-1].line, frames[-1].full_path)


PAIRS = ["symbolic/windows/crash.exe", "rizin-testbins/pdb/exceptions-test.exe",
         "mozilla-dump_syms/windows/basic32-min.dll", "llvm/tools/llvm-symbolizer/pdb/Inputs/test.exe"]


def store_of_pairs(tmp_path, stride=None):
    """The PDBs of PAIRS in one store, and their images as modules from 0x10000000 on, each
    ``stride`` after the last (default: at the next 64 KiB boundary past its end)."""
    store = tmp_path / "store"
    store.mkdir()
    modules, base = [], 0x10000000
    for rel in PAIRS:
        image = corpus_path(rel)
        shutil.copy(image.with_suffix(".pdb"), store)
        module = capture_module(image, base)[0].to_module()
        modules.append(module)
        base += stride if stride is not None else (module.size + 0xFFFF) & ~0xFFFF
    return store, modules


def test_batch_over_four_modules_agrees_with_symcache_lookup_on_every_range(tmp_path):
    """One merged, bucketed table over several PDBs answers like each module's SymCache."""
    store, modules = store_of_pairs(tmp_path)
    r = Resolver.from_symbol_path(str(store), cache_dir=tmp_path / "cache")
    index = ModuleIndex(modules)
    parts = [every_range_address(r.symbols_for(m).table, m.base) for m in modules]
    parts.append(np.array([m.end for m in modules] + [m.end - 1 for m in modules], np.uint64))
    addrs = np.random.default_rng(5).permutation(np.concatenate(parts))
    result = symbolize_batch(r, index, addrs)
    names, lines, files = result.names(), result.lines(), result.files()
    for i, addr in enumerate(addrs.tolist()):
        module = index.find(addr)
        if module is None:
            assert result.module[i] == -1 and names[i] is None
            continue
        assert index.modules[result.module[i]] is module
        one = r.lookup(module, addr, lines=False)      # also answers from the PDB's records
        assert (names[i], int(result.displacement[i])) == (one.symbol, one.displacement)
        frames = r.symbols_for(module).symcache.lookup(addr - module.base)
        if frames:
            assert (int(lines[i]), files[i]) == (frames[-1].line, frames[-1].full_path)


def test_symbols_of_the_touched_modules_are_prefetched_together_before_loading(tmp_path):
    """Many modules (a dump's): one parallel prefetch for those the addresses fall in."""
    store, modules = store_of_pairs(tmp_path, stride=0x100000)
    calls = []

    class Spy(Resolver):
        def prefetch(self, wanted):
            calls.append(("prefetch", sorted(m.name for m in wanted)))
            super().prefetch(wanted)

        def symbols_for(self, module):
            calls.append(("load", module.name))
            return super().symbols_for(module)

    r = Spy.from_symbol_path(str(store), cache_dir=tmp_path / "cache")
    touched = [modules[0], modules[2], modules[3]]
    addrs = np.array([m.base + 0x1000 for m in touched] * 2, dtype=np.uint64)
    result = symbolize_batch(r, ModuleIndex(modules), addrs)
    assert calls[0] == ("prefetch", sorted(m.name for m in touched))
    assert sorted(name for kind, name in calls[1:]) == sorted(m.name for m in touched)
    assert (result.module >= 0).all()


def test_addresses_outside_every_module_have_no_module(crash):
    r, module = crash
    result = symbolize_batch(r, ModuleIndex([module]), np.array([0x10, module.end, module.base]))
    assert result.module.tolist() == [-1, -1, 0]


def test_batch_location_matches_the_single_lookup(crash):
    r, module = crash
    result = symbolize_batch(r, ModuleIndex([module]), np.array([0x402A3D], dtype=np.uint64))
    assert result.location(0, r) == r.lookup(module, 0x402A3D)


def test_function_table_survives_npz_round_trip(crash, tmp_path):
    r, module = crash
    table = r.symbols_for(module).table
    table.save(tmp_path / "t.npz")
    again = FunctionTable.load(tmp_path / "t.npz")
    assert again.func_names == table.func_names and again.file_paths == table.file_paths
    for name in ("range_starts", "range_func", "range_line", "range_file", "func_entry"):
        assert np.array_equal(getattr(again, name), getattr(table, name))


def test_symcache_whose_counts_exceed_the_file_is_corrupt_input(crash):
    import io
    import struct

    from toolkit.model.errors import CorruptInput
    r, module = crash
    buf = io.BytesIO()
    r.symbols_for(module).symcache.dump_into(buf)
    data = bytearray(buf.getvalue())
    struct.pack_into("<I", data, 48, 10 ** 8)              # num_functions: far past the end
    with pytest.raises(CorruptInput, match="truncated"):
        FunctionTable.from_symcache(bytes(data))


def test_module_index_find_many_agrees_with_find():
    mods = [Module(0x1000, 0x100, "a.dll"), Module(0x3000, 0x1000, "b.dll"),
            Module(0x3800, 0x10, "overlap.dll")]
    index = ModuleIndex(mods)
    probe = np.array([0, 0x1000, 0x10FF, 0x1100, 0x3800, 0x3FFF, 0x4000], dtype=np.uint64)
    got = index.find_many(probe)
    want = [index.modules.index(m) if (m := index.find(int(a))) else -1 for a in probe]
    assert got.tolist() == want
    assert index.find(0x3800).name == "b.dll"          # the overlapping module is ignored
