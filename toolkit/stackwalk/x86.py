"""x86 caller rules, in Breakpad's order: STACK WIN (FPO/FrameData), STACK CFI, EBP chain, scan.

STACK WIN follows Breakpad's stackwalker_x86.cc GetCallerByWindowsFrameInfo: ``.raSearchStart``
is the callee's ESP plus the callee's callee's parameter size, the locals and the saved
registers, nudged by a scan of up to three words (quadword-aligned stacks); programs that align
the stack (``@``) locate it from EBP + 4 instead. If the program does not recover EBP, or the EIP
it computes does not look like code, a scan from the computed ESP - 4 replaces it (trust
``cfi_scan``).
"""

from __future__ import annotations

from typing import Dict, Optional

from toolkit.errors import DumpkitError
from toolkit.unwind.trust import Frame, Trust
from toolkit.stackwalk.common import (frame_from_scan, frame_pointer_caller, lookup_address,
                                      stack_end)
from toolkit.stackwalk.frame_scan import SCAN_SLOTS, SCAN_SLOTS_CONTEXT, scan_for_return

CARRIED = ("ebx", "esi", "edi")


def caller_frame(ctx, frame: Frame) -> Optional[Frame]:
    """The caller of ``frame`` by the best rule available, or None."""
    return (_by_stack_win(ctx, frame) or _by_cfi(ctx, frame)
            or frame_pointer_caller(ctx, frame, "eip", "esp", "ebp")
            or frame_from_scan(ctx, frame, frame.sp, "eip", "esp", "ebp"))


def _three_word_scan(ctx, start: int) -> int:
    for i in range(3):
        value = ctx.read_pointer(start + 4 * i)
        if value is not None and value >= 4096 and ctx.seems_valid_ip(value):
            return start + 4 * i
    return start


def _by_stack_win(ctx, frame: Frame) -> Optional[Frame]:
    from toolkit.unwind.breakpad_stack import evaluate_win
    from toolkit.unwind.postfix import PostfixError

    address = lookup_address(frame)
    module = ctx.module_at(address)
    if module is None:
        return None
    table = ctx.stack_table(module)
    record = table.win_record(address - module.base) if table is not None else None
    if record is None:
        return None
    callee_params = ctx.notes.get(("win_params", frame.index - 1), 0)
    regs = {k: v for k, v in frame.registers.items() if k in ("eip", "esp", "ebp", "ebx")}
    start = record.ra_search_start(frame.sp, callee_params)
    program, _ = record.program(has_ebx="ebx" in regs)
    if "@" in program and "ebp" in regs:
        start = (regs["ebp"] + 4) & 0xFFFFFFFF
    else:
        start = _three_word_scan(ctx, start)
    try:
        ev = evaluate_win(record, regs, ctx.read, callee_parameter_size=callee_params,
                          ra_search_start=start)
    except (PostfixError, DumpkitError):
        return None
    ctx.notes[("win_params", frame.index)] = record.parameter_size
    out = ev.registers
    eip, esp = out["$eip"], out["$esp"]
    trust = Trust.CFI
    if not ev.recover_ebp or (eip >= 4096 and not ctx.seems_valid_ip(eip)):
        slots = SCAN_SLOTS_CONTEXT if frame.trust is Trust.CONTEXT else SCAN_SLOTS
        found = scan_for_return(ctx, (esp - 4) & 0xFFFFFFFF, slots, stack_end(ctx),
                                prefer_callsite=False)
        if found is not None and (found.slot != (esp - 4) & 0xFFFFFFFF or found.value != eip):
            eip, esp, trust = found.value, found.slot + 4, Trust.CFI_SCAN
    regs_out: Dict[str, int] = {"eip": eip, "esp": esp, "ebp": out.get("$ebp", regs.get("ebp", 0))}
    for name in CARRIED:
        if f"${name}" in out:
            regs_out[name] = out[f"${name}"]
    return Frame(frame.index + 1, eip, esp, trust, regs_out["ebp"], regs_out)


def _by_cfi(ctx, frame: Frame) -> Optional[Frame]:
    from toolkit.unwind.postfix import PostfixError, evaluate_cfi

    address = lookup_address(frame)
    module = ctx.module_at(address)
    if module is None:
        return None
    table = ctx.stack_table(module)
    rules = table.cfi_rules(address - module.base) if table is not None else None
    if not rules:
        return None
    try:
        out, _ = evaluate_cfi(rules, frame.registers, ctx.read, pointer_size=4)
    except (PostfixError, DumpkitError):
        return None
    eip, esp = out.get(".ra"), out.get(".cfa")
    if eip is None or esp is None:
        return None
    regs = {"eip": eip, "esp": esp}
    for name in ("ebp",) + CARRIED:
        if f"${name}" in out:
            regs[name] = out[f"${name}"]
    return Frame(frame.index + 1, eip, esp, Trust.CFI, regs.get("ebp"), regs)


__all__ = ["caller_frame"]
