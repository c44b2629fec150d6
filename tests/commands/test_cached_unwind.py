"""A walk from cached symbols alone unwinds as well as one with the symbol path: the STACK
CFI/WIN records of a .sym, or those derived from a PDB, are cached beside the SymCache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from commands.cli import cli
from tests.cli_runner import split_runner
from tests.conftest import SAMPLES, corpus_path

pytest.importorskip("symbolic")


def stack(*args: str) -> str:
    result = split_runner().invoke(cli, ["stack", "--all-threads", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("dump,symbols", [
    ("corpus:breakpad/processor/minidump2.dmp", "corpus:breakpad/processor/symbols"),  # .sym
    ("samples:dumps/seh_x86-full-trim-cv.dmp", "samples:bin"),                          # PDB
])
def test_a_walk_from_the_cache_only_gives_the_frames_of_the_walk_with_the_symbol_path(
        monkeypatch, dump, symbols):
    def where(spec: str) -> str:
        kind, rel = spec.split(":", 1)
        if kind == "corpus":
            return str(corpus_path(rel))
        path = SAMPLES / rel
        if not path.exists():
            pytest.skip(f"{path} not built")
        return str(path)

    monkeypatch.delenv("_NT_SYMBOL_PATH", raising=False)
    with_path = stack(where(dump), "-y", where(symbols))
    assert " cfi " in with_path or " stack_win" in with_path or "cfi" in with_path
    cache = Path(os.environ["DUMPKIT_SYMBOL_CACHE"]) / "symcache"
    assert list(cache.glob("*.stack")), "the walk cached no unwind data"
    from_cache = stack(where(dump))
    assert from_cache == with_path
