"""The download cache: where it lives, how files land in it, and how misses are remembered.

A cache directory has the symbol-store layout (``name.pdb/<id>/name.pdb``), so it doubles as a
local store and WinDbg or symsrv can share it. Three rules keep it trustworthy:

* files arrive by atomic rename: a temp file in the destination directory, verified, then
  ``os.replace`` — a reader never sees half a PDB, and a crash leaves only a ``.tmp-*`` file;
* nothing is written outside the cache root (callers build paths with ``safe_names.contained``);
* a miss (the server said 404 for every URL form) leaves a small marker ``.miss-<server>`` in the
  id directory; while it is younger than the expiry the server is not asked again.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Iterator, Optional
from contextlib import contextmanager

#: How long a remembered miss stays valid (seconds). symsrv has no such cache; ours keeps a
#: second run over the same dump from asking the server again for every system module.
DEFAULT_MISS_TTL = 24 * 3600.0

ENV_CACHE = "DUMPKIT_SYMBOL_CACHE"


def default_cache_dir() -> Path:
    """The per-user download cache.

    ``DUMPKIT_SYMBOL_CACHE`` wins; else Windows ``%LOCALAPPDATA%\\dumpkit\\symbols`` (WinDbg's own
    default is ``C:\\ProgramData\\dbg\\sym``, which we do not write into uninvited), macOS
    ``~/Library/Caches/dumpkit/symbols``, elsewhere ``$XDG_CACHE_HOME/dumpkit/symbols`` or
    ``~/.cache/dumpkit/symbols``.
    """
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA")
        root = Path(base) if base else Path.home() / "AppData" / "Local"
        return root / "dumpkit" / "symbols"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "dumpkit" / "symbols"
    xdg = os.environ.get("XDG_CACHE_HOME")
    root = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return root / "dumpkit" / "symbols"


@contextmanager
def atomic_writer(dest: Path) -> Iterator[IO[bytes]]:
    """Yield a binary file that becomes ``dest`` only if the ``with`` block ends normally.

    The temp file lives in ``dest``'s directory so ``os.replace`` is a same-filesystem rename.
    Callers that must verify content before publishing use ``temp_file`` + ``publish`` instead.
    """
    tmp = temp_file(dest.parent)
    try:
        with open(tmp, "wb") as fh:
            yield fh
        publish(tmp, dest)
    except BaseException:
        discard(tmp)
        raise


def temp_file(directory: Path) -> Path:
    """A fresh, empty ``.tmp-*`` file in ``directory`` (created, with parents)."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".tmp-", dir=str(directory))
    os.close(fd)
    return Path(name)


def publish(tmp: Path, dest: Path) -> None:
    """Rename a verified temp file onto its final name (atomic on POSIX and Windows)."""
    os.replace(str(tmp), str(dest))


def discard(path: Optional[Path]) -> None:
    if path is None:
        return
    try:
        path.unlink()
    except OSError:
        pass


def server_tag(url: str) -> str:
    """A short stable name for a server, so two servers sharing a cache keep separate misses."""
    return hashlib.sha1(url.rstrip("/").encode("utf-8")).hexdigest()[:12]


class NegativeCache:
    """Remembers "this server has no such file" as marker files with an mtime.

    Time is read from the marker's mtime, so tests (and users) control expiry by touching files.
    """

    def __init__(self, ttl: float = DEFAULT_MISS_TTL) -> None:
        self.ttl = ttl

    @staticmethod
    def marker(id_dir: Path, url: str) -> Path:
        return id_dir / f".miss-{server_tag(url)}"

    def is_fresh_miss(self, id_dir: Path, url: str) -> bool:
        if self.ttl <= 0:
            return False
        try:
            age = time.time() - self.marker(id_dir, url).stat().st_mtime
        except OSError:
            return False
        return age < self.ttl

    def record_miss(self, id_dir: Path, url: str) -> None:
        marker = self.marker(id_dir, url)
        try:
            id_dir.mkdir(parents=True, exist_ok=True)
            with atomic_writer(marker) as fh:
                fh.write((url + "\n").encode("utf-8"))
        except OSError:
            pass  # a cache we cannot write only costs a repeated request


__all__ = [
    "DEFAULT_MISS_TTL",
    "ENV_CACHE",
    "NegativeCache",
    "atomic_writer",
    "default_cache_dir",
    "discard",
    "publish",
    "server_tag",
    "temp_file",
]
