"""Shared fixtures: where the real-data corpus lives, and skipping cleanly when it is absent."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DUMPKIT_SHARED", REPO.parent / "shared"))
CORPUS = SHARED / "corpus"
SAMPLES = REPO / "samples"
#: The user's home as it was before any fixture replaced HOME (tests prove it stays untouched).
REAL_HOME = Path(os.path.expanduser("~"))


def dumpkit_script() -> Path:
    """The installed ``dumpkit`` console script, or a skip saying where it was looked for.

    It is looked for beside the running interpreter, not on PATH: the README runs everything as
    ``.venv/bin/python -m pytest`` without activating the venv, so PATH may not hold it.
    """
    bindir = Path(sys.executable).parent
    for name in ("dumpkit", "dumpkit.exe"):
        exe = bindir / name
        if exe.is_file():
            return exe
    pytest.skip(f"dumpkit console script not installed beside {sys.executable}")


@pytest.fixture(autouse=True)
def _private_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own HOME and symbol cache, so none reads or writes the user's.

    Setting HOME (and clearing XDG_CACHE_HOME) also covers code that derives the default cache
    from the home directory; subprocesses inherit both through os.environ. A test that wants a
    particular cache still sets DUMPKIT_SYMBOL_CACHE or XDG_CACHE_HOME itself.
    """
    root = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(root))
    monkeypatch.setenv("USERPROFILE", str(root))
    monkeypatch.setenv("LOCALAPPDATA", str(root / "AppData" / "Local"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("DUMPKIT_SYMBOL_CACHE", str(root / "symbol-cache"))
    return root


def corpus_path(relative: str) -> Path:
    """A corpus file, or a skip naming what is missing (CI has ../shared; a bare clone may not)."""
    path = CORPUS / relative
    if not path.exists():
        pytest.skip(f"corpus file {relative} absent (../shared/corpus not beside the repo)")
    return path


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is not beside the repository")
    return CORPUS
