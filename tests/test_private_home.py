"""The suite never reads or writes the user's home: conftest gives every test its own HOME and
symbol cache, and a real symbol-resolving run proves the derived files land there instead."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Dict, Tuple

from tests.conftest import REAL_HOME, corpus_path, dumpkit_script
from toolkit.symbols.cache import default_cache_dir


def _tree(root: Path) -> Dict[str, Tuple[int, int]]:
    """Every file under ``root`` with its size and mtime (empty when ``root`` is absent)."""
    found: Dict[str, Tuple[int, int]] = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath, name)
            try:
                st = path.stat()
            except OSError:
                continue
            found[str(path.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return found


def test_the_default_symbol_cache_is_outside_the_real_home():
    assert Path(os.environ["HOME"]) != REAL_HOME
    assert REAL_HOME not in default_cache_dir().parents


def test_a_symbol_resolving_run_writes_the_private_cache_not_the_real_home():
    real_cache = REAL_HOME / ".cache" / "dumpkit" / "symbols"
    started = time.time_ns()
    proc = subprocess.run([str(dumpkit_script()), "stack",
                           str(corpus_path("breakpad/processor/minidump2.dmp")), "-y",
                           str(corpus_path("breakpad/processor/symbols"))],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    private = _tree(Path(os.environ["DUMPKIT_SYMBOL_CACHE"]))
    derived = [name for name in private if name.endswith(".symc")]
    assert derived, "the run resolved symbols, so it must have cached a SymCache somewhere"
    real = _tree(real_cache)
    touched = [name for name in derived if name in real and real[name][1] >= started]
    assert touched == [], f"the run wrote into the user's cache {real_cache}: {touched}"
