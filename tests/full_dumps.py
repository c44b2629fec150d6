"""Corpus Wine full-memory dumps (xz, 26-40 MB unpacked), decompressed once per test session.

Every test that needs one asks ``full_dump(rel)`` so each file is unpacked a single time per run.
"""

from __future__ import annotations

import atexit
import functools
import lzma
import shutil
import tempfile
from pathlib import Path

from conftest import corpus_path


@functools.lru_cache(maxsize=None)
def _decompress(src: str) -> Path:
    tmp = Path(tempfile.mkdtemp(prefix="dumpkit-fulldump-"))
    atexit.register(shutil.rmtree, tmp, True)
    out = tmp / Path(src).name[:-3]
    with lzma.open(src) as fin, open(out, "wb") as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)
    return out


def full_dump(rel: str) -> Path:
    """``rel`` (a ``.dmp.xz`` under the corpus) decompressed; skips when the corpus is absent."""
    return _decompress(str(corpus_path(rel)))
