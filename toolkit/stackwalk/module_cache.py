"""Per-process caches of what walks derive from module files, shared by every dump one process
walks (triage workers, the walker bench, a library loop): the same system DLLs and symbol
files come back in dump after dump, and parsing their headers, images and STACK records anew
for each dump was a large part of a walk.

Bounded LRUs, not global dictionaries that grow with the run: keys say exactly what the value
was derived from, so a hit gives what parsing would have given:

- a PE header page: its bytes themselves (``parsed_headers``, an ``lru_cache``);
- a file on the symbol path (a binary, a .sym/.pdb): its path, size and modification time, so
  a file replaced between two dumps is parsed again.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any, Generic, Hashable, Optional, Tuple, TypeVar

V = TypeVar("V")

FileKey = Tuple[str, int, int]


class Lru(Generic[V]):
    """A small least-recently-used map (``maxsize`` entries)."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._items: "OrderedDict[Hashable, V]" = OrderedDict()

    def get(self, key: Hashable) -> Optional[V]:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: Hashable, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.maxsize:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


def file_key(path: Any) -> Optional[FileKey]:
    """(path, size, mtime) of a file, None when it cannot be stat'ed (then nothing is cached)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return str(path), st.st_size, st.st_mtime_ns


# Binaries found on the symbol path (pefile.PE objects hold the file's bytes: few, large).
FILE_IMAGES: Lru[Any] = Lru(16)
# STACK records of a symbol file: (records as Breakpad text, BreakpadStackTable).
STACK_TABLES: Lru[Any] = Lru(64)


def clear() -> None:
    """Forget everything (tests that replace files in place within one mtime tick)."""
    FILE_IMAGES.clear()
    STACK_TABLES.clear()


__all__ = ["Lru", "file_key", "FILE_IMAGES", "STACK_TABLES", "clear", "FileKey"]
