"""What a thread waits on, judged from its stack: the wait API on the stack and its arguments.

Shared by every builder that has frames (transcripts today, minidumps once stacks are walked).
The rules follow how the debugger documentation reads such stacks by hand:

* critical section: ``RtlEnterCriticalSection`` / ``RtlpWaitForCriticalSection`` /
  ``RtlpEnterCriticalSectionContended`` / ``RtlpWaitOnCriticalSection`` on the stack. On x86 the
  critical section is the first argument shown (``kb``'s "Args to Child" are the real stack
  arguments). On x64 the shown "args" are home-space slots that may hold anything, so only a value
  that equals a critical section known from a listing (``!cs``, ``!locks``) or from memory counts.
* kernel ERESOURCE: ``ExpWaitForResource*`` / ``ExAcquireResource*Lite``, same argument rule.
* handle waits: ``(Nt|Zw)WaitForSingleObject`` / ``WaitForSingleObject(Ex)`` (x86: first argument
  is the handle; x64: a value equal to a known handle), ``WaitForMultipleObjects`` (handles sit in
  an array the text does not show: recorded as a wait on an unknown object).

When the argument cannot be recovered the wait is still reported, with the address unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import AbstractSet, List, Optional, Sequence, Tuple

from toolkit.waitgraph.model import Frame, ResourceKind

CS_FUNCTIONS = frozenset({"RtlEnterCriticalSection", "RtlpEnterCriticalSectionContended",
                          "RtlpWaitOnCriticalSection", "RtlpWaitForCriticalSection",
                          "EnterCriticalSection"})
RESOURCE_FUNCTIONS = frozenset({"ExpWaitForResource", "ExpWaitForResourceExclusive",
                                "ExpWaitForResourceShared", "ExAcquireResourceExclusiveLite",
                                "ExAcquireResourceSharedLite", "ExpAcquireResourceExclusiveLite",
                                "ExpAcquireResourceSharedLite"})
SINGLE_WAIT_FUNCTIONS = frozenset({"NtWaitForSingleObject", "ZwWaitForSingleObject",
                                   "WaitForSingleObject", "WaitForSingleObjectEx"})
LOADER_LOCK_FUNCTIONS = frozenset({"LdrLockLoaderLock", "LdrpAcquireLoaderLock"})
DEBUG_EVENT_FUNCTIONS = frozenset({"NtWaitForDebugEvent", "ZwWaitForDebugEvent",
                                   "DbgUiWaitStateChange", "WaitForDebugEvent",
                                   "WaitForDebugEventEx"})
MULTI_WAIT_FUNCTIONS = frozenset({"NtWaitForMultipleObjects", "ZwWaitForMultipleObjects",
                                  "WaitForMultipleObjects", "WaitForMultipleObjectsEx",
                                  "MsgWaitForMultipleObjects", "MsgWaitForMultipleObjectsEx"})


def symbol_name(function: str) -> str:
    """``ntdll!_RtlpWaitForCriticalSection@4`` -> ``RtlpWaitForCriticalSection``; a PDB's
    ``f(int)`` signature and a ``+0x1b`` displacement are dropped."""
    name = function.rsplit("!", 1)[-1]
    name = name.split("(", 1)[0].split("+", 1)[0].strip()
    name = name.rsplit("::", 1)[-1]
    name = name.split("@", 1)[0] if not name.startswith("@") else name
    return name.lstrip("_")


@dataclass(frozen=True)
class StackWait:
    kind: ResourceKind
    address: Optional[int]           # critical section / ERESOURCE address
    handle: Optional[int]
    frame: Frame
    note: str = ""


def recognise_waits(frames: Sequence[Frame], x86: bool, known_cs: AbstractSet[int] = frozenset(),
                    known_handles: AbstractSet[int] = frozenset(),
                    known_resources: AbstractSet[int] = frozenset()) -> List[StackWait]:
    """The innermost wait the stack shows (at most one), or [] when the thread is not waiting."""
    names = [symbol_name(f.function) for f in frames]
    for functions, kind, known in ((CS_FUNCTIONS, ResourceKind.CRITICAL_SECTION, known_cs),
                                   (RESOURCE_FUNCTIONS, ResourceKind.ERESOURCE, known_resources)):
        hits = [i for i, name in enumerate(names) if name in functions]
        if hits:
            address, frame, note = _lock_argument(frames, hits, x86, known)
            return [StackWait(kind, address, None, frame, note)]
    for i, name in enumerate(names):
        if name in SINGLE_WAIT_FUNCTIONS:
            handle, frame, note = _handle_argument(frames, i, names, x86, known_handles)
            return [StackWait(ResourceKind.UNKNOWN, None, handle, frame, note)]
        if name in MULTI_WAIT_FUNCTIONS:
            return [StackWait(ResourceKind.UNKNOWN, None, None, frames[i],
                              "handles are in an array the stack text does not show")]
    return []


def _lock_argument(frames: Sequence[Frame], hits: List[int], x86: bool,
                   known: AbstractSet[int]) -> Tuple[Optional[int], Frame, str]:
    if x86:
        for i in hits:
            if frames[i].args:
                return frames[i].args[0], frames[i], "first argument"
    seen: List[int] = []
    for frame in frames[:hits[-1] + 1]:
        for arg in frame.args:
            if arg in known and arg not in seen:
                seen.append(arg)
    outer = frames[hits[-1]]
    if len(seen) == 1:
        return seen[0], outer, "argument equal to a listed lock"
    if seen:
        return seen[0], outer, f"{len(seen)} listed locks among the arguments; took the innermost"
    return None, outer, "lock address not recoverable from the shown arguments"


def _handle_argument(frames: Sequence[Frame], first: int, names: List[str], x86: bool,
                     known: AbstractSet[int]) -> Tuple[Optional[int], Frame, str]:
    last = first
    while last + 1 < len(frames) and names[last + 1] in SINGLE_WAIT_FUNCTIONS:
        last += 1
    if x86 and frames[first].args:
        return frames[first].args[0], frames[first], "first argument"
    for frame in frames[first:last + 1]:
        for arg in frame.args:
            if arg in known:
                return arg, frame, "argument equal to a listed handle"
    return None, frames[last], "handle not recoverable from the shown arguments"


__all__ = ["StackWait", "recognise_waits", "symbol_name", "CS_FUNCTIONS", "RESOURCE_FUNCTIONS",
           "SINGLE_WAIT_FUNCTIONS", "MULTI_WAIT_FUNCTIONS", "LOADER_LOCK_FUNCTIONS",
           "DEBUG_EVENT_FUNCTIONS"]
