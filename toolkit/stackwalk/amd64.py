"""x64 caller rules: .pdata/UNWIND_INFO (RtlVirtualUnwind), then the RBP chain, then a scan.

Unwind info is read from the image (dump memory, else the binary found by code id) and
interpreted by toolkit.unwind.amd64_virtual_unwind, which knows where in a prolog or epilog the
instruction pointer stands, so frame 0 is right even there. A context frame whose function has
no .pdata entry is a leaf (return address at [RSP]); for a caller frame that would be a guess, so
the frame pointer and the scan get their turn instead. An unwind that yields an IP outside every
module's code falls back to the scan too (the unwind data or the stack is damaged).
"""

from __future__ import annotations

from typing import Optional

from toolkit.model.errors import DumpkitError
from toolkit.model.target import Problem
from toolkit.unwind.trust import Frame, Trust
from toolkit.stackwalk.common import (carried, frame_from_scan, frame_pointer_caller,
                                      has_unwind_info, stack_end, unwind_table_at)
from toolkit.unwind.amd64_virtual_unwind import unwind_function, unwind_leaf

NONVOLATILE = ("rip", "rsp", "rbp", "rbx", "rsi", "rdi", "r12", "r13", "r14", "r15")


def caller_frame(ctx, frame: Frame) -> Optional[Frame]:
    """The caller of ``frame`` by the best rule available, or None."""
    return (_by_unwind_info(ctx, frame)
            or _leaf_without_unwind_info(ctx, frame)
            or _by_frame_pointer(ctx, frame)
            or frame_from_scan(ctx, frame, frame.sp, "rip", "rsp", "rbp",
                               validate=lambda slot, value: _unwinds(ctx, frame, slot, value),
                               long_scan=not has_unwind_info(ctx, frame)))


def _by_frame_pointer(ctx, frame: Frame) -> Optional[Frame]:
    """The RBP chain, only from a frame whose RBP is known to be its own (context, unwind
    info, a frame pointer): a scanned frame's RBP is whatever its callees left, and on x64
    Windows RBP is rarely a frame pointer at all (rust-minidump never follows it there), so
    following it from a scan skips the frames between."""
    if frame.trust in (Trust.SCAN, Trust.SCAN_CALLSITE):
        return None
    return frame_pointer_caller(ctx, frame, "rip", "rsp", "rbp")


def _leaf_without_unwind_info(ctx, frame: Frame) -> Optional[Frame]:
    """The context frame's caller at [RSP] when nothing describes the frame's function.

    Without unwind info a function is taken for a leaf first, as RtlVirtualUnwind does for a
    function without .pdata and rust-minidump's scan does with its first word: RBP is only
    a frame pointer in code built to keep one, and following a stale RBP skips the frames
    between (electron's windows.dmp lost three so). The value must pass the return-address
    test; trust says what it is, a scanned word.
    """
    if frame.trust is not Trust.CONTEXT or has_unwind_info(ctx, frame):
        return None
    value = ctx.read_pointer(frame.sp)
    if value is None or not ctx.seems_valid_return(value):
        return None
    trust = Trust.SCAN_CALLSITE if ctx.call_length(value) else Trust.SCAN
    regs = dict(carried(frame.registers, NONVOLATILE), rip=value, rsp=frame.sp + 8)
    return Frame(frame.index + 1, value, frame.sp + 8, trust, regs.get("rbp"), regs)


def _unwinds(ctx, frame: Frame, slot: int, value: int) -> bool:
    """Can the scanned candidate's own function unwind from the slot above it?

    A stale return address left by a returned call still points at a CALL, but unwinding its
    function from there usually reads past the stack or yields a non-code IP; a live one
    unwinds to code (or to 0 at the thread's first frame). Modules without unwind data pass.
    """
    module = ctx.module_at(value - 1)
    data = ctx.unwind_data(module) if module is not None else None
    if data is None:
        return True
    try:
        entry = data.function_at(value - 1 - module.base)
        if entry is None:
            return True
        regs = dict(carried(frame.registers, NONVOLATILE), rip=value, rsp=slot + 8)
        result = unwind_function(data, module.base, entry, regs, ctx.read, ctx.code_bytes,
                                 static_frame=True)
    except KeyError:
        return True                  # needs a frame register we do not know: cannot judge
    except DumpkitError:
        return False
    end = stack_end(ctx)
    if end is not None and result.rsp > end:
        return False
    return result.rip == 0 or ctx.is_code(result.rip)


def _by_unwind_info(ctx, frame: Frame) -> Optional[Frame]:
    module, rva, data = unwind_table_at(ctx, frame)
    if module is None or data is None:
        return None
    regs = carried(frame.registers, NONVOLATILE)
    try:
        entry = data.function_at(rva)
        if entry is None:
            if frame.trust is not Trust.CONTEXT:
                return None
            result = unwind_leaf(regs, ctx.read)
        else:
            # a scanned frame's frame register is the callee's, not this function's
            scanned = frame.trust in (Trust.SCAN, Trust.SCAN_CALLSITE)
            result = unwind_function(data, module.base, entry, regs, ctx.read, ctx.code_bytes,
                                     static_frame=scanned)
    except KeyError as exc:          # a register the unwind codes need is unknown here
        _note(ctx, Problem("stackwalk.unwind",
                           f"frame {frame.index} at {frame.ip:#x}: register {exc} unknown"))
        return None
    except DumpkitError as exc:
        _note(ctx, Problem("stackwalk.unwind", f"frame {frame.index} at {frame.ip:#x}: {exc}"))
        return None
    caller = carried(result.registers, NONVOLATILE)
    rip, rsp = caller["rip"], caller["rsp"]
    if rip >= 4096 and not ctx.is_code(rip):     # symbols may not cover CRT code: code suffices
        _note(ctx, Problem("stackwalk.unwind_bad_ip",
                           f"frame {frame.index}: unwind info gave {rip:#x}, not code; "
                           "trying other rules"))
        return None
    return Frame(frame.index + 1, rip, rsp, Trust.CFI, caller.get("rbp"), caller,
                 problems=tuple(result.problems))


def _note(ctx, problem: Problem) -> None:
    """A problem of this walk (the walker adds ctx.notes["problems"] to the thread's)."""
    ctx.notes.setdefault("problems", []).append(problem)

__all__ = ["caller_frame"]
