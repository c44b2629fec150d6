"""Shared fixtures: where the real-data corpus lives, and skipping cleanly when it is absent."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Iterator

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


def _use_home(patch: pytest.MonkeyPatch, root: Path) -> None:
    """Point HOME and every cache location dumpkit derives from it at ``root``.

    Setting HOME (and clearing XDG_CACHE_HOME) also covers code that derives the default cache
    from the home directory; subprocesses inherit all of it through os.environ.
    """
    patch.setenv("HOME", str(root))
    patch.setenv("USERPROFILE", str(root))
    patch.setenv("LOCALAPPDATA", str(root / "AppData" / "Local"))
    patch.delenv("XDG_CACHE_HOME", raising=False)
    patch.setenv("DUMPKIT_SYMBOL_CACHE", str(root / "symbol-cache"))


@pytest.fixture(autouse=True, scope="session")
def _private_session_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private HOME for session- and module-scoped fixtures (servers, Dask workers), which
    start before any per-test fixture could redirect them."""
    root = tmp_path_factory.mktemp("session-home")
    with pytest.MonkeyPatch.context() as patch:
        _use_home(patch, root)
        yield root


@pytest.fixture(autouse=True)
def _private_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own HOME and empty symbol cache, so none reads or writes the user's
    and no test's result depends on what an earlier one cached. A test that wants a particular
    cache still sets DUMPKIT_SYMBOL_CACHE or XDG_CACHE_HOME itself."""
    root = tmp_path_factory.mktemp("home")
    _use_home(monkeypatch, root)
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
