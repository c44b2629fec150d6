"""CRT scope entries of MSVC ``__try`` frames, shown under their record as ``!exchain`` does.

A frame whose handler is ``_except_handler3`` extends its registration record with a scope
table pointer and the current try level ({Next, Handler, ScopeTable, TryLevel, saved EBP});
each scope entry is {EnclosingLevel, FilterFunc, HandlerFunc}. ``_except_handler4`` stores the
scope table pointer XORed with the module's ``__security_cookie`` (whose VA the load config's
SecurityCookie gives) and its table starts with 16 bytes of GS/EH cookie offsets. Entries are
listed from the current try level outwards along EnclosingLevel, like WinDbg.
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional

from parsers.nt_tib import (EH3_EXCEPTION_REGISTRATION, EH4_SCOPETABLE_RECORD, SCOPETABLE_ENTRY,
                            TRYLEVEL_NONE_EH3, TRYLEVEL_NONE_EH4)
from toolkit.model.errors import DumpkitError
from toolkit.seh.model import ScopeEntry, ScopeInfo

EH4_HEADER = 16
MAX_LEVELS = 64
Namer = Callable[[int], Optional[str]]


def frame_kind(symbol: Optional[str]) -> Optional[str]:
    """"eh3"/"eh4" for the CRT frame handlers, by symbol name (any leading underscores)."""
    if not symbol:
        return None
    name = symbol.split("(")[0].lstrip("_")
    if name.startswith("except_handler3"):
        return "eh3"
    if name.startswith("except_handler4"):
        return "eh4"
    return None


def read_scope(target: Any, record: int, kind: str, cookie_va: Optional[int],
               namer: Namer) -> ScopeInfo:
    """The CRT frame at ``record``: try level, decoded scope table and the entries in use."""
    try:
        frame = EH3_EXCEPTION_REGISTRATION.parse(target.read(record,
                                                             EH3_EXCEPTION_REGISTRATION.sizeof()))
    except DumpkitError:
        return ScopeInfo(kind, None, None, note="the CRT frame beyond the record is not in the dump")
    level = frame.TryLevel
    encoded, cookie = frame.ScopeTable, None
    if kind == "eh4":
        if cookie_va is None:
            return ScopeInfo(kind, level, None, encoded,
                             note="__security_cookie location unknown (the image's load config is not "
                                  "available): the "
                                  "scope table pointer cannot be decoded")
        try:
            cookie = int.from_bytes(target.read(cookie_va, 4), "little")
        except DumpkitError:
            return ScopeInfo(kind, level, None, encoded,
                             note=f"__security_cookie at {cookie_va:08x} is not in the dump: "
                                  "the scope table pointer cannot be decoded")
        table = encoded ^ cookie
        first = table + EH4_HEADER
        none = TRYLEVEL_NONE_EH4
    else:
        table = first = encoded
        none = TRYLEVEL_NONE_EH3
    entries: List[ScopeEntry] = []
    note = None
    while level != none and len(entries) < MAX_LEVELS:
        if level < 0:
            note = f"try level {level} is not a valid index"
            break
        layout = EH4_SCOPETABLE_RECORD if kind == "eh4" else SCOPETABLE_ENTRY
        try:
            e = layout.parse(target.read(first + 12 * level, 12))
        except DumpkitError:
            note = f"scope entry {level} at {first + 12 * level:08x} is not in the dump"
            break
        entries.append(ScopeEntry(level, e.EnclosingLevel, e.FilterFunc or None, e.HandlerFunc,
                                  namer(e.FilterFunc) if e.FilterFunc else None,
                                  namer(e.HandlerFunc)))
        if e.EnclosingLevel >= level:    # levels must decrease; anything else would loop
            if e.EnclosingLevel != none:
                note = f"enclosing level {e.EnclosingLevel} does not decrease"
            break
        level = e.EnclosingLevel
    if frame.TryLevel == none and note is None:
        note = "no __try block active (try level none)"
    return ScopeInfo(kind, frame.TryLevel, table, encoded if kind == "eh4" else None, cookie,
                     tuple(entries), note)


__all__ = ["frame_kind", "read_scope"]
