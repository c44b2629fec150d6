"""`symbolize` scales with its input: the module index is built per chunk, not per new
module name (issue 12: 16k distinct `module+off` names took 120 s)."""

from __future__ import annotations

import pytest

import toolkit.symbols.symbolize as symbolize_mod
from toolkit.symbols.resolver import Resolver
from toolkit.symbols.symbolize import CHUNK, Symbolizer


class CountingIndex(symbolize_mod.ModuleIndex):
    built = 0

    def __init__(self, *args, **kwargs):
        CountingIndex.built += 1
        super().__init__(*args, **kwargs)


@pytest.fixture
def counting(monkeypatch):
    CountingIndex.built = 0
    monkeypatch.setattr(symbolize_mod, "ModuleIndex", CountingIndex)
    return CountingIndex


def _engine(tmp_path):
    return Symbolizer(Resolver.from_symbol_path(str(tmp_path / "empty-store")))


def test_many_distinct_module_names_build_the_index_once_per_chunk(tmp_path, counting):
    names = [f"mod{i}.dll+0x{i:x}" for i in range(3000)]
    engine = _engine(tmp_path)
    built_before = counting.built
    results = list(engine.run(names))
    assert len(results) == 3000
    # one chunk: one rebuild for all 3000 new names (the given table's index is built at start)
    assert counting.built - built_before == 1


def test_each_distinct_name_keeps_its_own_offset(tmp_path, counting):
    engine = _engine(tmp_path)
    results = list(engine.run([f"mod{i}.dll+0x{i:x}" for i in range(50)]))
    assert [r.location.address for r in results] == list(range(50))
    assert [r.location.module for r in results] == [f"mod{i}.dll" for i in range(50)]


def test_names_spread_over_two_chunks_rebuild_twice_at_most(tmp_path, counting):
    lines = [f"mod{i % 7000}.dll+0x10" for i in range(CHUNK + 10)]
    engine = _engine(tmp_path)
    before = counting.built
    assert sum(1 for _ in engine.run(lines)) == CHUNK + 10
    assert counting.built - before <= 2


def _text(chunks) -> str:
    return "".join(line + "\n" for lines in chunks for line in lines)


def _crash_engine(tmp_path, **kwargs):
    import shutil
    from tests.conftest import corpus_path
    from toolkit.targets.trace import capture_module
    store = tmp_path / "store"
    store.mkdir()
    for rel in ("symbolic/windows/crash.exe", "symbolic/windows/crash.pdb"):
        shutil.copy(corpus_path(rel), store)
    module = capture_module(store / "crash.exe", 0x400000)[0].to_module()
    resolver = Resolver.from_symbol_path(str(store), cache_dir=tmp_path / "cache")
    return lambda: Symbolizer(resolver, [module], **kwargs), module


@pytest.mark.parametrize("lines", [True, False])
def test_text_fast_path_prints_what_format_result_prints(tmp_path, lines):
    pytest.importorskip("symbolic")
    from toolkit.symbols.symbolize import format_result
    make, module = _crash_engine(tmp_path, lines=lines)
    inputs = [f"{module.base + off:#x}" for off in range(0x1000, 0x9000, 0x97)]
    inputs += ["0x10", f"{module.end + 5:x}"]
    plain = list(inputs)          # bare addresses only: the one-regex-per-chunk path
    assert _text(make().run_text(plain, 4)) == \
        "".join(format_result(r, 4) + "\n" for r in make().run(plain))
    inputs += ["0x10", f"{module.end + 5:x}", "garbage", "crash.exe+0x2a3d", "other.dll+0x20",
               "crash!main+0x12", "", "# comment", f"{module.base:#x}"]
    slow = "".join(format_result(r, 4) + "\n" for r in make().run(inputs))
    fast = _text(make().run_text(inputs, 4))
    assert fast == slow
    assert "crash!main" in fast and "garbage: error:" in fast


def test_text_fast_path_splits_output_per_chunk(tmp_path):
    make, module = _crash_engine(tmp_path)
    pieces = list(make().run_text([f"{module.base + 0x2a3d:#x}"] * (CHUNK + 1), 4))
    assert [len(p) for p in pieces] == [CHUNK, 1]
