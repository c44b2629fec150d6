"""``open_target(path)``: the one place that decides what kind of file a path holds.

Minidumps (``MDMP``) open as ``MinidumpTarget``. PE images are not processes: they are pointed at
``dumpkit debugdir`` unless the PE helper's module offers a PE target. Kernel dumps (``PAGE``)
are declined by name. A missing file raises OSError (the CLI maps it).
"""

from __future__ import annotations

import os
from typing import Union

from toolkit.model.errors import InputError, UnsupportedTarget
from toolkit.model.target import Target


def open_target(path: Union[str, "os.PathLike[str]"]) -> Target:
    with open(path, "rb") as fh:
        magic = fh.read(8)
    name = os.fspath(path)
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
