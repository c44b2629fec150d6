"""File names and ids from untrusted dumps, made safe to use as path components.

A module's PDB name comes from the CodeView record inside the dump, so it is attacker-chosen:
``..\\..\\x.pdb``, ``/etc/passwd``, ``C:\\x\\y.pdb``, ``\\\\server\\share\\x.pdb``, NUL bytes,
``CON``. Symbol stores key files by *basename* only, so a full path is reduced to its last
component (as symsrv does); what is still unsafe after that is refused, with a reason the caller
turns into a Problem. Ids must match their hex spelling exactly. Every path built from these is
finally checked with ``contained`` (resolve + relative_to) before anything is opened or written.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Optional, Tuple

#: Longest basename we accept (NTFS and ext4 both stop at 255).
MAX_NAME = 255

_WINDOWS_DEVICES = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"COM{i}" for i in range(10)] + [f"LPT{i}" for i in range(10)]
    + ["COM\u00b9", "COM\u00b2", "COM\u00b3", "LPT\u00b9", "LPT\u00b2", "LPT\u00b3"]
)
_FORBIDDEN = set('<>:"|?*')
_DEBUG_ID = re.compile(r"[0-9A-F]{32}[0-9a-f]{1,8}|[0-9A-F]{8}[0-9a-f]{1,8}")
_CODE_ID = re.compile(r"[0-9A-F]{8}[0-9a-f]{1,8}")


def judge_name(name: str) -> Tuple[Optional[str], str]:
    """``(basename, "")`` when ``name`` reduces to a safe basename, else ``(None, reason)``."""
    if not isinstance(name, str) or not name:
        return None, "empty file name"
    if "\x00" in name:
        return None, "file name contains a NUL byte"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        return None, "file name contains control characters"
    base = re.split(r"[\\/]", name)[-1].strip()
    if not base:
        return None, f"file name {name!r} ends with a path separator"
    if len(base.encode("utf-8", "surrogatepass")) > MAX_NAME:
        return None, f"file name is longer than {MAX_NAME} bytes"
    if set(base) <= {"."}:
        return None, f"file name {base!r} is only dots"
    bad = sorted(set(base) & _FORBIDDEN)
    if bad:
        return None, f"file name {base!r} contains {''.join(bad)!r} (drive letter or stream)"
    if base.endswith((".", " ")):
        return None, f"file name {base!r} ends with a dot or space (Windows would rename it)"
    stem = base.split(".")[0].rstrip(" ").upper()
    if stem in _WINDOWS_DEVICES:
        return None, f"file name {base!r} is a reserved Windows device name"
    return base, ""


def safe_basename(name: str) -> Optional[str]:
    """The last path component of ``name`` if it is safe as a file name, else ``None``."""
    return judge_name(name)[0]


def is_debug_id_dir(text: str) -> bool:
    """``<GUID upper, no dashes><age hex>`` or NB10 ``<SIG %08X><age hex>``, as DebugId spells it."""
    return bool(_DEBUG_ID.fullmatch(text))


def is_code_id(text: str) -> bool:
    """``<TimeDateStamp %08X><SizeOfImage %x>`` — the spelling ``toolkit.model.debug_id.code_id`` gives."""
    return bool(_CODE_ID.fullmatch(text))


def normalize_code_id(text: str) -> Optional[str]:
    """Accept a code id in any hex case (trace files, Breakpad CODE_ID) and respell it canonically.

    Breakpad writes ``5AB380779000`` (all upper); the store directory is ``5AB380779000`` with the
    size part lower-case (``%x``), so ``5AB38077`` + ``9000``. Returns ``None`` if not hex.
    """
    t = text.strip()
    if not re.fullmatch(r"[0-9A-Fa-f]{9,16}", t):
        return None
    return f"{int(t[:8], 16):08X}{int(t[8:], 16):x}"


def contained(root: Path, *parts: str) -> Optional[Path]:
    """``root / parts...`` if it resolves inside ``root`` and every part fits a file name, else
    ``None``.

    Each part must be a single component (no separators, not ``.``/``..``); the joined path is then
    resolved (following symlinks that already exist) and must stay under the resolved root.
    """
    for part in parts:
        if not part or part in (".", "..") or "/" in part or "\\" in part or "\x00" in part:
            return None
        if len(part.encode("utf-8", "surrogatepass")) > MAX_NAME:
            return None  # a derived name (name.sym, a cache file) no file system can hold
        if os.sep in part or (os.altsep and os.altsep in part):
            return None
    path = root.joinpath(*parts)
    try:
        real_root = root.resolve()
        real = path.resolve()
        real.relative_to(real_root)
    except (OSError, ValueError, RuntimeError):
        return None
    return path


__all__ = [
    "MAX_NAME",
    "contained",
    "is_code_id",
    "is_debug_id_dir",
    "judge_name",
    "normalize_code_id",
    "safe_basename",
]
