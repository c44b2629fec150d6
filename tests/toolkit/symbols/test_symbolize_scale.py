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


def _text(engine, lines, pointer_size=4, block=1 << 20) -> str:
    """The text view over ``lines`` given as bytes, as `symbolize` reads its input."""
    import io
    data = "".join(line + "\n" for line in lines).encode()
    return "".join(engine.text_blocks(io.BytesIO(data), pointer_size, block_size=block))


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


def _slow(make, inputs, pointer_size=4) -> str:
    from toolkit.symbols.symbolize import format_result
    return "".join(format_result(r, pointer_size) + "\n" for r in make().run(inputs))


@pytest.mark.parametrize("lines", [True, False])
def test_text_of_bare_addresses_is_what_format_result_prints(tmp_path, lines):
    pytest.importorskip("symbolic")
    make, module = _crash_engine(tmp_path, lines=lines)
    inputs = [f"{module.base + off:#x}" for off in range(0x1000, 0x9000, 0x97)]
    inputs += ["0x10", f"{module.end + 5:x}", f"{module.base + 0x2a3d:X}", "0X402A3D"]
    assert _text(make(), inputs) == _slow(make, inputs)


@pytest.mark.parametrize("inlines", [True, False])
def test_text_of_mixed_lines_is_what_format_result_prints(tmp_path, inlines):
    pytest.importorskip("symbolic")
    make, module = _crash_engine(tmp_path, inlines=inlines)
    inputs = [f"{module.base + off:#x}" for off in range(0x1000, 0x9000, 0x297)]
    inputs += ["0x10", f"{module.end + 5:x}", "garbage", "crash.exe+0x2a3d", "other.dll+0x20",
               "crash!main+0x12", "", "# comment", f"{module.base:#x}", "  0x402a3d \r",
               "0x", "0x12345678901234567", "crash!nope", "crash.exe+0x9000"]
    fast = _text(make(), inputs)
    assert fast == _slow(make, inputs)
    assert "crash!main" in fast and "garbage: error:" in fast


def test_text_reads_lone_carriage_returns_and_crlf_as_line_ends(tmp_path):
    pytest.importorskip("symbolic")
    make, module = _crash_engine(tmp_path)
    import io
    data = b"0x402a3d\r\n0x402a3e\r0x402a3f\n\r\n"
    text = "".join(make().text_blocks(io.BytesIO(data), 4))
    assert text == _slow(make, ["0x402a3d", "0x402a3e", "0x402a3f"])


def test_text_is_the_same_whatever_the_block_size(tmp_path):
    pytest.importorskip("symbolic")
    make, module = _crash_engine(tmp_path)
    inputs = [f"{module.base + off:#x}" for off in range(0, 0x9000, 0x61)] + \
        ["crash.exe+0x2a3d", "nope"] * 3
    whole = _text(make(), inputs)
    assert _text(make(), inputs, block=7) == whole
    assert _text(make(), inputs, block=4096) == whole


def test_text_escapes_control_characters_through_the_given_function(tmp_path):
    pytest.importorskip("symbolic")
    make, module = _crash_engine(tmp_path)
    import io
    text = "".join(make().text_blocks(io.BytesIO(b"ab\x01c\n0x402a3d\n"), 4,
                                      lambda s: s.replace("\x01", "<1>")))
    first, second = text.splitlines()
    assert first.startswith("ab<1>c: error:") and second.startswith("crash!main")


def test_undecodable_bytes_become_a_per_line_error(tmp_path):
    make, module = _crash_engine(tmp_path)
    import io
    text = "".join(make().text_blocks(io.BytesIO(b"\xff\xfe0x1\n"), 4))
    assert text == "\ufffd\ufffd0x1: error: not an address, module+offset or " \
        "module!symbol+offset\n"
