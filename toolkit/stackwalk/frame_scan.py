"""The last-resort rule every architecture shares: scan the stack for a return address.

Breakpad's and rust-minidump's ``ScanForReturnAddress``: look at ``slots`` pointer-sized words
from ``start`` upward; the first that points into a module's code (and, when the module has
symbols, into a known function) is taken as the caller's return address. The peers scan 40
words for a caller frame and more (here 160) for the context frame, whose SP may sit below a
large unwound allocation. Ours adds the call-site check: a candidate whose preceding bytes are a
CALL ending exactly at it gets trust ``scan_callsite``; the first such candidate in the window
is preferred over an earlier unverified one, which skips stale pointers to code (saved function
pointers, vtable slots) that sit between the frame and its real return address.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from toolkit.unwind.trust import Trust

SCAN_SLOTS = 40
SCAN_SLOTS_CONTEXT = 160
LONG_SCAN_SLOTS = 1024    # 4 KiB (x86) / 8 KiB (x64) more, call-verified candidates only


@dataclass(frozen=True)
class ScanResult:
    slot: int           # address of the stack slot holding the return address
    value: int          # the return address
    trust: Trust        # SCAN or SCAN_CALLSITE


def scan_for_return(ctx, start: int, slots: int, stack_end: Optional[int] = None,
                    prefer_callsite: bool = True,
                    validate: Optional[Callable[[int, int], bool]] = None,
                    require_callsite: bool = False) -> Optional[ScanResult]:
    """The first plausible return address in ``slots`` words from ``start`` (see module doc).

    ``validate(slot, value)`` may reject a candidate the architecture can check further (x64:
    the candidate's own unwind info must unwind from the slot above it inside the stack).
    ``require_callsite`` keeps only call-verified candidates (the long scan).
    """
    ps = ctx.pointer_size
    first: Optional[ScanResult] = None
    for i in range(slots):
        slot = start + i * ps
        if stack_end is not None and slot + ps > stack_end:
            break
        value = ctx.read_pointer(slot)
        if value is None:
            break
        if not ctx.seems_valid_return(value):
            continue
        if validate is not None and not validate(slot, value):
            continue
        if ctx.call_length(value):
            return ScanResult(slot, value, Trust.SCAN_CALLSITE)
        if first is None and not require_callsite:
            first = ScanResult(slot, value, Trust.SCAN)
            if not prefer_callsite:
                return first
    return first


__all__ = ["scan_for_return", "ScanResult", "SCAN_SLOTS", "SCAN_SLOTS_CONTEXT", "LONG_SCAN_SLOTS"]
