"""The Wine full-memory dump of our SEH sample (crash-i686-nocrt-ext-full), decompressed once per
test session into a temporary directory (about 26 MB), shared by the seh and command tests."""

from __future__ import annotations

from pathlib import Path

from full_dumps import full_dump

WINE_FULL = "wine/dumps/crash-i686-nocrt-ext-full.dmp.xz"
WINE_BIN = "wine/bin"


def wine_full_dump() -> Path:
    """The decompressed dump (skips the test when the corpus is absent)."""
    return full_dump(WINE_FULL)
