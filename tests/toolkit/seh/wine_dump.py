"""The Wine full-memory dump of our SEH sample (crash-i686-nocrt-ext-full), decompressed once per
test session into a temporary directory (about 26 MB), shared by the seh and command tests."""

from __future__ import annotations

import atexit
import functools
import lzma
import shutil
import tempfile
from pathlib import Path

from tests.conftest import corpus_path

WINE_FULL = "wine/dumps/crash-i686-nocrt-ext-full.dmp.xz"
WINE_BIN = "wine/bin"


@functools.lru_cache(maxsize=None)
def _decompress(src: str) -> Path:
    tmp = Path(tempfile.mkdtemp(prefix="dumpkit-seh-"))
    atexit.register(shutil.rmtree, tmp, True)
    out = tmp / Path(src).name[:-3]
    with lzma.open(src) as fin, open(out, "wb") as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)
    return out


def wine_full_dump() -> Path:
    """The decompressed dump (skips the test when the corpus is absent)."""
    return _decompress(str(corpus_path(WINE_FULL)))
