"""The last-resort rule every architecture shares: scan the stack for a return address.

Breakpad's and rust-minidump's ``ScanForReturnAddress``: look at ``slots`` pointer-sized words
from ``start`` upward; the first that points into a module's code (and, when the module has
symbols, into a known function) is taken as the caller's return address. The peers scan 40
words for a caller frame and more (here 160) for the context frame, whose SP may sit below a
large unwound allocation. Ours adds the call-site check: a candidate whose preceding bytes are a
CALL ending exactly at it gets trust ``scan_callsite``; the first such candidate in the window
is preferred over an earlier unverified one, which skips stale pointers to code (saved function
pointers, vtable slots) that sit between the frame and its real return address.

Past the peers' window (``long_scan``) a CALL before the value is enough only where the module's
code is known (image headers or symbols): in a module known only by its range, dead stack is
full of call-verified stale copies (a dump writer's ntdll+0x6e5dc, four times). There a
candidate must also start a frame-pointer chain: the word below it, a saved frame pointer,
leads through ANCHOR_LINKS frame records to valid return addresses.

The thread that wrote the dump (Breakpad's info stream names it) gets the long scan's rule for
every scan, from the first slot on (``stale_stack``): its context was captured inside the
writer, which then went on calling functions whose frames overwrote the stack above that SP
before the stack was copied. Breakpad and rust-minidump skip the thread for that reason; a
plain scan there reads the writer's later frames (30 frames of ntdll junk on Breakpad's test
dumps). A candidate anchored by a CALL in known code or a frame-pointer chain is evidence that
survives the overwrite: the walk reaches the dbghelp chain and the thread start, or stops.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple

from toolkit.unwind.trust import Trust

SCAN_SLOTS = 40
SCAN_SLOTS_CONTEXT = 160
LONG_SCAN_SLOTS = 1024    # 4 KiB (x86) / 8 KiB (x64) more, call-verified candidates only
ANCHOR_LINKS = 3          # frame records a long-scan candidate of an unknown module must lead to
MAX_FP_DISTANCE = 128 * 1024     # a saved frame pointer lies this close above its slot at most


@dataclass(frozen=True)
class ScanResult:
    slot: int           # address of the stack slot holding the return address
    value: int          # the return address
    trust: Trust        # SCAN or SCAN_CALLSITE


def _candidates(ctx, start: int, slots: int, stack_end: Optional[int]) -> List[Tuple[int, int]]:
    """(slot, value) of the words in the window that point into a module, lowest first: the
    window ends at ``stack_end`` and before the first unreadable word."""
    values = ctx.stack_words(start, slots, stack_end)
    ps = ctx.pointer_size
    return [(start + i * ps, values[i]) for i in ctx.in_modules(values)]


def scan_for_return(ctx, start: int, slots: int, stack_end: Optional[int] = None,
                    prefer_callsite: bool = True,
                    validate: Optional[Callable[[int, int], bool]] = None,
                    guided: bool = False) -> Optional[ScanResult]:
    """The first plausible return address in ``slots`` words from ``start`` (see module doc).

    ``validate(slot, value)`` may reject a candidate the architecture can check further (x64:
    the candidate's own unwind info must unwind from the slot above it inside the stack).
    ``guided``: unwind data placed ``start`` and the scan only corrects for what it could not
    know (an unsymbolized callee's parameter size), so the stale-stack rule does not apply.
    """
    if ctx.notes.get("stale_stack") and not guided:
        return long_scan_for_return(ctx, start, slots + LONG_SCAN_SLOTS, stack_end, validate)
    first: Optional[ScanResult] = None
    for slot, value in _candidates(ctx, start, slots, stack_end):
        if not ctx.seems_valid_return(value):
            continue
        if validate is not None and not validate(slot, value):
            continue
        if ctx.call_length(value):
            return ScanResult(slot, value, Trust.SCAN_CALLSITE)
        if first is None:
            first = ScanResult(slot, value, Trust.SCAN)
            if not prefer_callsite:
                return first
    return first


def long_scan_for_return(ctx, start: int, slots: int, stack_end: Optional[int] = None,
                         validate: Optional[Callable[[int, int], bool]] = None
                         ) -> Optional[ScanResult]:
    """The first candidate past the window that is call-verified in a module whose code is
    known, or that starts a frame-pointer chain (see module doc); None when there is none."""
    for slot, value in _candidates(ctx, start, slots, stack_end):
        if not ctx.seems_valid_return(value):
            continue
        if validate is not None and not validate(slot, value):
            continue
        verified = bool(ctx.call_length(value))
        if verified and ctx.knows_code(value - 1):
            return ScanResult(slot, value, Trust.SCAN_CALLSITE)
        if frame_records_above(ctx, slot, stack_end, ANCHOR_LINKS) >= ANCHOR_LINKS:
            return ScanResult(slot, value, Trust.SCAN_CALLSITE if verified else Trust.SCAN)
    return None


def frame_records_above(ctx, slot: int, stack_end: Optional[int], limit: int) -> int:
    """How many frame records {saved fp, return address} chain from the word below ``slot``
    (up to ``limit``): each above the last and within MAX_FP_DISTANCE of it, each return
    address valid. A return address whose lower neighbour starts such a chain is the return
    address of a frame with a standard prolog, not a stale copy."""
    ps = ctx.pointer_size
    below, fp = slot, ctx.read_pointer(slot - ps)
    links = 0
    while links < limit and fp is not None and fp % ps == 0 \
            and below < fp <= below + MAX_FP_DISTANCE \
            and (stack_end is None or fp + 2 * ps <= stack_end):
        ret = ctx.read_pointer(fp + ps)
        if ret is None or not ctx.seems_valid_return(ret):
            break
        links += 1
        below, fp = fp, ctx.read_pointer(fp)
    return links


__all__ = ["scan_for_return", "long_scan_for_return", "frame_records_above", "ScanResult",
           "SCAN_SLOTS", "SCAN_SLOTS_CONTEXT", "LONG_SCAN_SLOTS", "ANCHOR_LINKS",
           "MAX_FP_DISTANCE"]
