"""Helpers the per-architecture rules share: frames from scans and frame-pointer sanity."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple

from toolkit.model.target import Module
from toolkit.unwind.trust import Frame, Trust
from toolkit.stackwalk.frame_scan import (LONG_SCAN_SLOTS, MAX_FP_DISTANCE, SCAN_SLOTS,
                                         SCAN_SLOTS_CONTEXT, long_scan_for_return,
                                         scan_for_return)


def stack_end(ctx) -> Optional[int]:
    bounds = ctx.notes.get("stack")
    return bounds[1] if bounds else None


def frame_from_scan(ctx, frame: Frame, sp: int, ip_name: str, sp_name: str,
                    fp_name: str, validate=None, long_scan: bool = False) -> Optional[Frame]:
    """Scan from ``sp`` (40 slots, 160 for the context frame) and build the caller.

    ``long_scan`` (the frame's module has no unwind info, so nothing says how large its frame
    is): when the window holds no candidate, go on for LONG_SCAN_SLOTS more, accepting only
    call-verified return addresses, and in modules known only by their range only those that
    start a frame-pointer chain (frame_scan.long_scan_for_return). The peers stop here (Breakpad and rust-minidump scan 40
    words for a caller); a system DLL frame holding a CONTEXT or a path buffer is larger than
    that, and a CALL ending exactly at the value is strong evidence even that far up. Frames
    between are skipped (their code is unverifiable), never invented.

    The caller's frame pointer is restored from the slot just below the return address when
    that value lies above the caller's SP and within 128 KiB of it (a pushed frame pointer of a
    standard prolog); otherwise the callee's carries through.
    """
    slots = scan_slots(frame)
    found = scan_for_return(ctx, sp, slots, stack_end(ctx), validate=validate)
    if found is None and long_scan:
        found = long_scan_for_return(ctx, sp + slots * ctx.pointer_size, LONG_SCAN_SLOTS,
                                     stack_end(ctx), validate=validate)
    if found is None:
        return None
    ps = ctx.pointer_size
    caller_sp = found.slot + ps
    regs: Dict[str, int] = {ip_name: found.value, sp_name: caller_sp}
    fp = frame.registers.get(fp_name)
    saved = ctx.read_pointer(found.slot - ps)
    if saved is not None and caller_sp < saved <= caller_sp + MAX_FP_DISTANCE:
        fp = saved
    if fp is not None:
        regs[fp_name] = fp
    return Frame(frame.index + 1, found.value, caller_sp, found.trust, fp, regs)


def scan_slots(frame: Frame) -> int:
    """How many words a scan for ``frame``'s caller looks at: more for the context frame."""
    return SCAN_SLOTS_CONTEXT if frame.trust is Trust.CONTEXT else SCAN_SLOTS


def frame_pointer_caller(ctx, frame: Frame, ip_name: str, sp_name: str, fp_name: str,
                         strip=None) -> Optional[Frame]:
    """[fp] = caller's fp, [fp+ps] = return address, caller sp = fp + 2*ps; sanity-checked."""
    ps = ctx.pointer_size
    fp = frame.registers.get(fp_name)
    sp = frame.sp
    if fp is None or fp % ps or fp < sp:
        return None
    end = stack_end(ctx)
    if end is not None and fp + 2 * ps > end:
        return None
    saved_fp = ctx.read_pointer(fp)
    ip = ctx.read_pointer(fp + ps)
    if saved_fp is None or ip is None:
        return None
    if strip is not None:
        ip = strip(ip)
    caller_sp = fp + 2 * ps
    if ip < 4096 and not (ip == 0 and saved_fp == 0 and frame.trust is not Trust.CONTEXT):
        return None                  # only a zeroed record {0, 0} ends a chain (thread start)
    if ip >= 4096 and not ctx.seems_valid_return(ip):
        return None
    regs = {ip_name: ip, sp_name: caller_sp, fp_name: saved_fp}
    return Frame(frame.index + 1, ip, caller_sp, Trust.FRAME_POINTER, saved_fp, regs)


def has_unwind_info(ctx, frame: Frame) -> bool:
    """Does the frame's module carry unwind data (x64 .pdata; x86 STACK WIN/CFI records)?"""
    return unwind_table_at(ctx, frame)[2] is not None


def unwind_table_at(ctx, frame: Frame) -> Tuple[Optional[Module], int, Any]:
    """(module, RVA to look up, the module's unwind table) for ``frame``.

    The table is x64's ImageUnwindData or x86's STACK WIN/CFI records, None when the module has
    none; the RVA is that of ``lookup_address``. (None, 0, None) outside every module.
    """
    address = lookup_address(frame)
    module = ctx.module_at(address)
    if module is None:
        return None, 0, None
    table = ctx.unwind_data(module) if ctx.pointer_size == 8 else ctx.stack_table(module)
    return module, address - module.base, table


def lookup_address(frame: Frame) -> int:
    """Where to look up unwind data: the IP itself for frame 0, the byte before a return address
    for callers (the CALL belongs to the function even when it is its last instruction)."""
    return frame.ip if frame.trust is Trust.CONTEXT else frame.ip - 1


def carried(registers: Mapping[str, int], names) -> Dict[str, int]:
    return {k: v for k, v in registers.items() if k in names}


__all__ = ["frame_from_scan", "has_unwind_info", "frame_pointer_caller", "lookup_address", "carried",
           "scan_slots", "stack_end", "unwind_table_at", "MAX_FP_DISTANCE"]
