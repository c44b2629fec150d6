"""What a dump thread waits on: the wait API on its walked stack, and the argument it was given.

A wait API is recognised two ways, innermost first:

* by a frame's own symbol (``ntdll!NtWaitForSingleObject``, ``RtlpWaitForCriticalSection``;
  needs symbols or export names for the system DLLs) - the call into it was made by the next
  frame out, whose arguments are then read;
* by the target of the CALL before a return address (``call EnterCriticalSection`` through the
  exe's import thunk, named by the exe's PDB) - this works when the system DLLs have no symbols
  at all, as with Wine's builtin DLLs.

The first category found (critical section, loader lock, single or multiple handle wait, debug
event) decides what the thread waits on; every frame of that category is then tried in turn for
the argument (they all carry the same lock or handle), and the reasons are kept when none works.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from toolkit.unwind.trust import Frame
from toolkit.waitgraph.call_args import argument, call_site
from toolkit.waitgraph.stack_waits import (
    CS_FUNCTIONS, DEBUG_EVENT_FUNCTIONS, LOADER_LOCK_FUNCTIONS, MULTI_WAIT_FUNCTIONS,
    SINGLE_WAIT_FUNCTIONS, symbol_name)

MAX_WAIT_OBJECTS = 64          # MAXIMUM_WAIT_OBJECTS
CATEGORIES = (("critical_section", CS_FUNCTIONS), ("loader_lock", LOADER_LOCK_FUNCTIONS),
              ("single", SINGLE_WAIT_FUNCTIONS), ("multiple", MULTI_WAIT_FUNCTIONS),
              ("debug_event", DEBUG_EVENT_FUNCTIONS))


@dataclass(frozen=True)
class WaitCall:
    """One frame calling a wait API: ``caller`` is the frame index that made the call."""

    category: str
    api: str
    caller: int
    via: str                   # "symbol" (the callee frame is named) | "call target"
    call_text: str = ""


@dataclass(frozen=True)
class DumpWait:
    category: str
    api: str
    caller: int                # frame index of the call the values were read from
    values: Tuple[int, ...]    # CS address, or handles; () when unknown or not needed
    how: str                   # where the values came from, or why they are unknown
    wait_all: Optional[bool] = None


def _category(name: str) -> Optional[str]:
    for category, names in CATEGORIES:
        if name in names:
            return category
    return None


def wait_calls(ctx, frames: Sequence[Frame]) -> List[WaitCall]:
    """Every call into a wait API on the stack, innermost first."""
    out: List[WaitCall] = []
    for i, frame in enumerate(frames):
        if frame.symbol and i + 1 < len(frames):
            name = symbol_name(frame.symbol)
            category = _category(name)
            if category:
                out.append(WaitCall(category, name, i + 1, "symbol"))
        if i == 0:
            continue
        site = call_site(ctx, frame)
        if site is not None and site.target_name:
            name = symbol_name(site.target_name)
            category = _category(name)
            if category and not (out and out[-1].caller == i and out[-1].api == name):
                out.append(WaitCall(category, name, i, "call target", site.text))
    return out


def thread_wait(ctx, frames: Sequence[Frame],
                calls: Optional[Sequence[WaitCall]] = None) -> Optional[DumpWait]:
    """The innermost wait on the stack with its lock address / handles, or None. ``calls`` is
    ``wait_calls(ctx, frames)`` when the caller already has it (each call site is disassembled)."""
    if calls is None:
        calls = wait_calls(ctx, frames)
    if not calls:
        return None
    category = calls[0].category
    same = [c for c in calls if c.category == category]
    if category in ("loader_lock", "debug_event"):
        return DumpWait(category, same[0].api, same[0].caller, (), "no argument needed")
    reasons: List[str] = []
    for call in same:
        if category == "multiple":
            found = _handle_array(ctx, frames, call)
            if found[0]:
                return DumpWait(category, call.api, call.caller, found[0], found[1], found[2])
            reasons.append(f"{call.api}: {found[1]}")
            continue
        arg = argument(ctx, frames, call.caller, 0)
        if arg.value is not None and _plausible(category, arg.value):
            return DumpWait(category, call.api, call.caller, (arg.value,), arg.how)
        reasons.append(f"{call.api}: {arg.how}" if arg.value is None
                       else f"{call.api}: implausible value {arg.value:#x} ({arg.how})")
    first = same[0]
    return DumpWait(category, first.api, first.caller, (), "; ".join(reasons))


def _plausible(category: str, value: int) -> bool:
    if category == "critical_section":
        return value >= 0x1000
    return 0 < value < 0xFFFFFFF0          # not NULL, not a pseudo handle (-1, -2)


def _handle_array(ctx, frames, call: WaitCall) -> Tuple[Tuple[int, ...], str, Optional[bool]]:
    count = argument(ctx, frames, call.caller, 0)
    array = argument(ctx, frames, call.caller, 1)
    mode = argument(ctx, frames, call.caller, 2)
    if count.value is None or array.value is None:
        return (), f"count: {count.how}; array: {array.how}", None
    n = count.value & 0xFFFFFFFF
    if not 0 < n <= MAX_WAIT_OBJECTS:
        return (), f"implausible handle count {n} ({count.how})", None
    handles = []
    for k in range(n):
        value = ctx.read_pointer(array.value + k * ctx.pointer_size)
        if value is None:
            return (), f"handle array {array.value:#x} not in the dump", None
        handles.append(value & 0xFFFFFFFF)
    wait_all = None
    if mode.value is not None:
        # WaitForMultipleObjects: bWaitAll (TRUE = all); NtWaitForMultipleObjects: WAIT_TYPE
        # (WaitAll = 0, WaitAny = 1)
        flag = mode.value & 0xFFFFFFFF
        wait_all = (flag == 0) if call.api.startswith(("Nt", "Zw")) else (flag != 0)
    return tuple(handles), f"{n} handles at {array.value:#x} ({array.how})", wait_all


__all__ = ["DumpWait", "WaitCall", "wait_calls", "thread_wait", "CATEGORIES"]
