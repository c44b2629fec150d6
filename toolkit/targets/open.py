"""``open_target(path)``: the one place that decides what kind of file a path holds.

Minidumps (``MDMP``) open as ``MinidumpTarget``. Compressed dumps (xz, gzip, zstd, bzip2, a zip
holding one file; told apart by magic bytes) are unpacked by ``toolkit.targets.compressed`` under
a size cap and then opened the same way, so every command reads them. PE images are not
processes: they are pointed at ``dumpkit debugdir`` unless the PE helper's module offers a PE
target. Kernel dumps (``PAGE``) are declined by name. A missing file raises OSError (the CLI maps
it).
"""

from __future__ import annotations

import atexit
import os
from typing import Optional, Union

from toolkit.model.errors import InputError, UnsupportedTarget
from toolkit.model.target import Target
from toolkit.targets.compressed import Unpacked, compression_of


def open_target(path: Union[str, "os.PathLike[str]"], *,
                max_decompressed: Optional[int] = None) -> Target:
    """The Target in ``path``; ``max_decompressed`` caps what a compressed dump may expand to
    (default: ``toolkit.targets.compressed.decompressed_limit()``)."""
    name = os.fspath(path)
    with open(path, "rb") as fh:
        magic = fh.read(8)
    kind = compression_of(magic)
    if kind is None:
        return _open_plain(name, magic, name)
    unpacked = Unpacked(name, kind, limit=max_decompressed)
    try:
        with open(unpacked.path, "rb") as fh:
            inner_magic = fh.read(8)
        if compression_of(inner_magic) is not None:
            raise InputError(f"{name}: holds another compressed file; unpack it once first")
        try:
            target = _open_plain(unpacked.path, inner_magic, name)
        except InputError as exc:
            exc.args = (str(exc).replace(unpacked.path, name),)
            raise
    except BaseException:
        unpacked.close()
        raise
    _forget_when_mapped(target, unpacked, name)
    return target


def _forget_when_mapped(target: Target, unpacked: Unpacked, name: str) -> None:
    """Name the target after the archive and drop the unpacked copy: once mmap'd, POSIX keeps
    its pages alive; where the OS refuses (Windows), the copy goes at interpreter exit."""
    for holder in (target, getattr(target, "file", None)):
        if holder is not None and hasattr(holder, "path"):
            try:
                setattr(holder, "path", name)
            except AttributeError:
                pass
    if os.name == "nt":
        atexit.register(unpacked.close)
    else:
        unpacked.close()


def _open_plain(path: str, magic: bytes, name: str) -> Target:
    if magic[:4] == b"MDMP":
        from toolkit.targets.minidump.target import MinidumpTarget
        return MinidumpTarget(path)
    if magic[:2] == b"MZ":
        try:
            from toolkit.targets.pe.image import PeTarget  # type: ignore[attr-defined]
        except ImportError:
            raise InputError(f"{name} is a PE image; use `dumpkit debugdir`") from None
        return PeTarget(path)
    if magic[:4] == b"PAGE":
        raise UnsupportedTarget(f"{name} is a Windows kernel dump; dumpkit reads user-mode "
                                "minidumps")
    if not magic:
        raise InputError(f"{name} is empty")
    raise InputError(f"{name} is not a minidump (no MDMP signature)")


__all__ = ["open_target"]
