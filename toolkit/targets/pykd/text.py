"""Parsers for debugger command output the pykd back end reads through ``dbgCommand``.

pykd 0.3 documents no call for a process's handle table, the target's service pack, product
type or processor count, or a thread's suspend count; WinDbg prints each of them for a
documented command (``!handle 0 f``, ``vertarget``, ``~``). These functions turn that text, in
the layout WinDbg prints it (see the transcripts in the corpus), into the toolkit's dataclasses.
They never guess: a field the text does not carry stays None, and text that is not the
command's output gives None.
"""

from __future__ import annotations

import re
from typing import Dict, List, Optional, Tuple

from toolkit.model.target import Handle, HandleObjectInfo

# ---- !handle 0 f (uext/ntsdexts, user mode) -----------------------------------------------------
# Handle 1b0
#   Type         	Mutant
#   Attributes   	0
#   GrantedAccess	0x1f0001:
#          Delete,ReadControl,WriteDac,WriteOwner,Synch
#          QueryState
#   HandleCount  	2
#   PointerCount 	65537
#   Name         	\Sessions\1\BaseNamedObjects\MYMUTEX1
#   Object Specific Information
#     Mutex is Owned
#     Mutant Owner aa8.3ff8
# ...
# 6 Handles
# Type            Count
_HANDLE = re.compile(r"^Handle\s+([0-9a-fA-F`]+)\s*$")
_FIELD = re.compile(r"^\s+(Type|Attributes|GrantedAccess|HandleCount|PointerCount|Name)"
                    r"[ \t]+(.*?)\s*$")
_TOTAL = re.compile(r"^(\d+)\s+Handles\s*$")
_MUTEX_STATE = re.compile(r"^\s+Mutex is (Owned|Free)\s*$")
_MUTANT_OWNER = re.compile(r"^\s+Mutant Owner\s+([0-9a-fA-F]+)\.([0-9a-fA-F]+)\s*$")

# The HandleObjectInfo layout for facts read from the engine's text rather than a dump record.
DEBUGGER_LAYOUT = "debugger"


def _hex(text: str) -> int:
    return int(text.replace("`", "").rstrip(":"), 16)


def parse_handles(text: str) -> Optional[List[Handle]]:
    """The handles in ``!handle 0 f`` output, or None when the text is not a handle listing
    (the extension's error message, a dump without handle data)."""
    handles: List[Handle] = []
    current: Optional[Dict[str, object]] = None
    total: Optional[int] = None

    def close() -> None:
        if current is not None:
            handles.append(_handle(current))

    for line in text.splitlines():
        start = _HANDLE.match(line)
        if start:
            close()
            current = {"handle": _hex(start.group(1))}
            continue
        end = _TOTAL.match(line)
        if end:
            total = int(end.group(1))
            break
        if current is None:
            continue
        field = _FIELD.match(line)
        if field:
            current[field.group(1)] = field.group(2)
            continue
        state = _MUTEX_STATE.match(line)
        if state:
            current["mutex_owned"] = state.group(1) == "Owned"
            continue
        owner = _MUTANT_OWNER.match(line)
        if owner:
            current["mutant_owner"] = (int(owner.group(1), 16), int(owner.group(2), 16))
    close()
    if total is None:
        return None
    return handles


def _handle(fields: Dict[str, object]) -> Handle:
    def number(key: str, base: int) -> int:
        value = fields.get(key)
        try:
            return int(str(value).rstrip(":"), base) if value is not None else 0
        except ValueError:
            return 0

    name = fields.get("Name")
    info: Tuple[HandleObjectInfo, ...] = ()
    owner = fields.get("mutant_owner")
    if isinstance(owner, tuple):                  # (pid, tid) from "Mutant Owner pid.tid"
        pid, tid = owner
        info = (HandleObjectInfo("MiniMutantInformation2",
                                 {"OwnerProcessId": pid, "OwnerThreadId": tid},
                                 layout=DEBUGGER_LAYOUT),)
    elif fields.get("mutex_owned") is False:      # "Mutex is Free": the engine says no owner
        info = (HandleObjectInfo("MiniMutantInformation2",
                                 {"OwnerProcessId": 0, "OwnerThreadId": 0},
                                 layout=DEBUGGER_LAYOUT),)
    handle = fields["handle"]
    if not isinstance(handle, int):               # parse_handles sets it from the "Handle" line
        raise TypeError(f"handle value {handle!r} is not a number")
    return Handle(handle=handle,
                  type_name=str(fields["Type"]) if "Type" in fields else None,
                  object_name=None if name in (None, "<none>") else str(name),
                  attributes=number("Attributes", 16),
                  granted_access=number("GrantedAccess", 16),
                  handle_count=number("HandleCount", 10),
                  pointer_count=number("PointerCount", 10),
                  object_info=info)


# ---- vertarget ------------------------------------------------------------------------------------
# Windows XP Version 2600 (Service Pack 2) UP Free x86 compatible
# Windows 10 Version 19043 MP (4 procs) Free x64
# Product: WinNt, suite: SingleUserTS
_VERSION_LINE = re.compile(r"^Windows .*?Version (\d+)(?: \(([^)]*)\))?\s+"
                           r"(?:MP \((\d+) procs\)|(UP))\s", re.MULTILINE)
_PRODUCT_LINE = re.compile(r"^Product: (\w+)", re.MULTILINE)
# OSVERSIONINFOEX.wProductType as vertarget names it.
PRODUCT_TYPES = {"WinNt": 1, "LanManNt": 2, "ServerNt": 3}


def parse_vertarget(text: str) -> Dict[str, object]:
    """``csd_version``, ``product_type`` and ``processor_count`` from ``vertarget`` output;
    a key is present only when the text carries it (no service pack: csd_version absent)."""
    out: Dict[str, object] = {}
    version = _VERSION_LINE.search(text)
    if version:
        if version.group(2):
            out["csd_version"] = version.group(2)
        out["processor_count"] = 1 if version.group(4) else int(version.group(3))
    product = _PRODUCT_LINE.search(text)
    if product and product.group(1) in PRODUCT_TYPES:
        out["product_type"] = PRODUCT_TYPES[product.group(1)]
    return out


# ---- ~ (thread status) ---------------------------------------------------------------------------
# .  6  Id: 1364.a9 Suspend: 1 Teb: 7ffd9000 Unfrozen
_THREAD_LINE = re.compile(r"^[.#\s]\s*\d+\s+Id:\s*[0-9a-fA-F]+\.([0-9a-fA-F]+)\s+"
                          r"Suspend:\s*(-?\d+)\s", re.MULTILINE)


def parse_suspend_counts(text: str) -> Dict[int, int]:
    """Thread id -> suspend count from ``~`` output (priority is not in it)."""
    return {int(m.group(1), 16): int(m.group(2)) for m in _THREAD_LINE.finditer(text)}


__all__ = ["parse_handles", "parse_vertarget", "parse_suspend_counts", "PRODUCT_TYPES", "DEBUGGER_LAYOUT"]
