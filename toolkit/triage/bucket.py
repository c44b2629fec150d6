"""The failure bucket, WinDbg style: ``<failure class>_<code>_<module>!<function>``, or
``<module>+<offset>`` where the blamed frame has no symbol.

Stable across runs and machines: it is built from names and module-relative offsets only, never
from absolute addresses of relocatable modules (ASLR moves those on every run). The blamed
frame is the first one, from the top, in a module that is not part of the OS or the C runtime
(WinDbg's "followup" heuristic); when every frame is in such a module, the top frame with a
module; ``unknown`` when no frame has one.
"""

from __future__ import annotations

import re
from typing import Any, Optional, Sequence, Tuple

SYSTEM_MODULES = frozenset({
    "ntdll.dll", "kernel32.dll", "kernelbase.dll", "ucrtbase.dll", "ucrtbased.dll",
    "msvcrt.dll", "vcruntime140.dll", "vcruntime140d.dll", "msvcp140.dll", "user32.dll",
    "win32u.dll", "wow64.dll", "wow64cpu.dll", "wow64win.dll", "combase.dll", "rpcrt4.dll",
    "sechost.dll", "advapi32.dll", "gdi32.dll", "gdi32full.dll", "ole32.dll", "oleaut32.dll",
    "kernel.appcore.dll", "msvcr100.dll", "msvcr120.dll", "msvcr90.dll", "msvcr80.dll",
})

_UNSAFE = re.compile(r"[^A-Za-z0-9_.!+:~<>@$?`'-]+")


def blamed_frame(locations: Sequence[Any]) -> Tuple[Optional[int], Any]:
    """(index, Location) of the frame a bucket and the crashing module name."""
    first_with_module: Tuple[Optional[int], Any] = (None, None)
    for i, loc in enumerate(locations):
        if loc is None or loc.module is None:
            continue
        if first_with_module[0] is None:
            first_with_module = (i, loc)
        if loc.module.lower() not in SYSTEM_MODULES:
            return i, loc
    return first_with_module


def frame_label(loc: Any, *, caller: bool = False) -> str:
    """``module!function`` or ``module+0xoffset`` (offset of the faulting/return address)."""
    if loc is None or loc.module is None:
        return "unknown"
    if loc.symbol:
        return f"{loc.module}!{_clean(function_name(loc.symbol))}"
    base = loc.module_base if loc.module_base is not None else 0
    return f"{loc.module}+{loc.address - base:#x}"


def function_name(symbol: str) -> str:
    """The function without its parameter list: ``crash_read(int const *)`` -> ``crash_read``
    (WinDbg's buckets name functions so; overloads share a bucket)."""
    text = symbol.strip()
    if text.endswith(" const"):
        text = text[:-6].rstrip()
    if not text.endswith(")"):
        return text
    depth = 0
    for i in range(len(text) - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(text[i], 0)
        if depth == 0:
            head = text[:i].rstrip()
            return head if head and not head.endswith("operator") else text
    return text


def make_bucket(failure_class: str, code: Optional[int], label: str) -> str:
    code_text = f"{code & 0xFFFFFFFF:08x}" if code is not None else "none"
    return f"{failure_class}_{code_text}_{label}"


def _clean(name: str) -> str:
    """Function names go into one token: whitespace and separators collapse to ``_``."""
    return _UNSAFE.sub("_", name.strip())


__all__ = ["SYSTEM_MODULES", "blamed_frame", "frame_label", "function_name", "make_bucket"]
