"""x86 caller rules, in Breakpad's order: STACK WIN (FPO/FrameData), STACK CFI, EBP chain, scan.

STACK WIN follows Breakpad's stackwalker_x86.cc GetCallerByWindowsFrameInfo: ``.raSearchStart``
is the callee's ESP plus the callee's callee's parameter size, the locals and the saved
registers, nudged by a scan of up to three words (quadword-aligned stacks); programs that align
the stack (``@``) locate it from EBP + 4 instead. If the program does not recover EBP, or the EIP
it computes does not look like code, a scan from the computed ESP - 4 replaces it (trust
``cfi_scan``).

The frame-pointer rule knows GCC's stack-realigning prolog (``force_align_arg_pointer`` /
``-mstackrealign``, used throughout Wine's i386 ntdll/kernelbase)::

    lea ecx, [esp+4]        ; ecx = the caller's SP after the return
    and esp, -16            ; drops ESP by 0..12 bytes
    push dword [ecx-4]      ; a *copy* of the return address
    push ebp
    mov ebp, esp            ; [ebp+4] = the copy, not the real slot
    push esi / push ebx ... ; up to three saved registers
    push ecx                ; the caller's SP, restored by ``lea esp, [ecx-4]`` in the epilog

Peers (Breakpad, rust-minidump) take the caller's SP as EBP + 8, 0..12 bytes too low, so the
next STACK WIN program searches for its return address from the wrong place and finds the
real slot of the *same* return address: the frame repeats and its caller is lost. Recognised
from the stack alone (the image's code is rarely in a dump): the return address read at
EBP + 4 occurs again 0..12 bytes above EBP + 8, and one of the four words below EBP holds the
address just above that second copy (the saved ECX). Both must hold, so an ordinary frame whose
argument happens to equal its return address is not mistaken for one.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Dict, Optional

from toolkit.model.errors import DumpkitError
from toolkit.unwind.trust import Frame, Trust
from toolkit.stackwalk.common import (carried, frame_from_scan, frame_pointer_caller,
                                      has_unwind_info, scan_slots, stack_end, unwind_table_at)
from toolkit.stackwalk.frame_scan import scan_for_return

CARRIED = ("ebx", "esi", "edi")


def caller_frame(ctx, frame: Frame) -> Optional[Frame]:
    """The caller of ``frame`` by the best rule available, or None."""
    return (_by_stack_win(ctx, frame) or _by_cfi(ctx, frame)
            or _by_frame_pointer(ctx, frame)
            or frame_from_scan(ctx, frame, frame.sp, "eip", "esp", "ebp",
                               long_scan=not has_unwind_info(ctx, frame)))


def _by_frame_pointer(ctx, frame: Frame) -> Optional[Frame]:
    caller = frame_pointer_caller(ctx, frame, "eip", "esp", "ebp")
    if caller is None:
        return None
    slot = realigned_return_slot(ctx, frame.registers["ebp"], caller.ip)
    if slot is None:
        return caller
    regs = dict(caller.registers, esp=slot + 4)
    return replace(caller, sp=slot + 4, registers=regs)


def realigned_return_slot(ctx, ebp: int, return_address: int) -> Optional[int]:
    """The real return-address slot of a GCC stack-realigning frame at ``ebp``, else None."""
    for delta in range(0, 16, 4):
        slot = ebp + 8 + delta
        if ctx.read_pointer(slot) != return_address:
            continue
        saved_ecx = [ctx.read_pointer(ebp - 4 * k) for k in range(1, 5)]
        if slot + 4 in saved_ecx:
            return slot
        return None
    return None


def _three_word_scan(ctx, start: int) -> int:
    for i in range(3):
        value = ctx.read_pointer(start + 4 * i)
        if value is not None and ctx.seems_valid_return(value):
            return start + 4 * i
    return start


def _by_stack_win(ctx, frame: Frame) -> Optional[Frame]:
    from toolkit.unwind.breakpad_stack import evaluate_win
    from toolkit.unwind.postfix import PostfixError

    _, rva, table = unwind_table_at(ctx, frame)
    record = table.win_record(rva) if table is not None else None
    if record is None:
        return None
    callee_params = ctx.notes.get(("win_params", frame.index - 1), 0)
    regs = carried(frame.registers, ("eip", "esp", "ebp") + CARRIED)
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
    # The program's EIP needs code at its call site, not a known function: PDBs of mingw
    # builds hold no procedure for CRT code (__tmainCRTStartup), whose return address
    # main's program reads at ebp+4 (as x64 unwind results are judged, amd64.py). An EIP
    # below 4096 is no code either, and is scanned past as Breakpad does, unless EIP and EBP
    # are both 0 (the end of the stack): the size of an unsymbolized callee's parameters is
    # unknown, so .raSearchStart may fall short of the return address (minidump2's writer:
    # WriteMinidumpWithException after dbghelp's MiniDumpWriteDump).
    ebp_out = out.get("$ebp", regs.get("ebp", 0))
    no_code = not ctx.is_code(eip - 1) if eip >= 4096 else bool(eip or ebp_out)
    if not ev.recover_ebp or no_code:
        found = scan_for_return(ctx, (esp - 4) & 0xFFFFFFFF, scan_slots(frame), stack_end(ctx),
                                prefer_callsite=False, guided=True)
        if found is not None and (found.slot != (esp - 4) & 0xFFFFFFFF or found.value != eip):
            eip, esp, trust = found.value, found.slot + 4, Trust.CFI_SCAN
    ebp = ebp_out
    if ev.recover_ebp and (eip or ebp):
        offset = max(0, esp - 4 - start) if trust is Trust.CFI_SCAN else 0
        ebp = _recovered_ebp(ctx, record, frame, callee_params, ebp, start, offset, trust)
    regs_out: Dict[str, int] = {"eip": eip, "esp": esp, "ebp": ebp}
    regs_out.update(_callee_saved(out, frame))
    return Frame(frame.index + 1, eip, esp, trust, regs_out["ebp"], regs_out)


def _recovered_ebp(ctx, record, frame: Frame, callee_params: int, ebp: int, ra_start: int,
                   offset: int, trust: Trust) -> int:
    """The caller's EBP after a STACK WIN program, repaired as Breakpad's
    GetCallerByWindowsFrameInfo does when the program's EBP cannot be the caller's.

    A program that does not set ``$ebp`` (an FPO function; CodeView register numbers such as
    ``$22`` are not ``$ebp``) carries the callee's EBP through, which in an FPO function is
    whatever the function used EBP for. When that value does not point into the stack, or a
    scan moved the return address (frames may have been skipped, and EBP lies at or below the
    return-address slot), the caller's EBP is looked for in the frame's saved-register area,
    from its top down: the first word that points into the stack is taken. Without this the
    next frame-pointer step reads a junk record (mini.dmp's dump writer: ExceptionHandlerThreadMain
    leaves EBP = 0x664, a thread id, and the walk scans a stale kernel32 address).
    """
    bounds = ctx.notes.get("stack")

    def in_stack(value: int) -> bool:
        return bool(bounds) and bounds[0] <= value and value + 4 <= bounds[1]

    skipped = trust is not Trust.CFI and ebp <= ra_start + offset
    if not skipped and in_stack(ebp):
        return ebp
    low = (frame.sp + callee_params) & 0xFFFFFFFF
    location = low + record.saved_register_size + offset
    while location >= low:
        if not in_stack(location):
            break
        value = ctx.read_pointer(location)
        if value is None:
            break
        if in_stack(value):
            return value
        location -= 4
    return ebp


def _callee_saved(out: Dict[str, int], frame: Frame) -> Dict[str, int]:
    """EBX/ESI/EDI of the caller: restored by the program, else the callee's own (they are
    callee-saved, so a function that does not save one leaves it as its caller had it). The
    next frame's STACK WIN program reads them (``$ebx``), as in Breakpad and rust-minidump."""
    regs = {}
    for name in CARRIED:
        value = out.get(f"${name}", frame.registers.get(name))
        if value is not None:
            regs[name] = value
    return regs


def _by_cfi(ctx, frame: Frame) -> Optional[Frame]:
    from toolkit.unwind.postfix import PostfixError, evaluate_cfi

    _, rva, table = unwind_table_at(ctx, frame)
    rules = table.cfi_rules(rva) if table is not None else None
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
    if "$ebp" in out:
        regs["ebp"] = out["$ebp"]
    regs.update(_callee_saved(out, frame))
    return Frame(frame.index + 1, eip, esp, Trust.CFI, regs.get("ebp"), regs)


__all__ = ["caller_frame", "realigned_return_slot"]
