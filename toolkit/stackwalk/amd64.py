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

from toolkit.errors import DumpkitError
from toolkit.target import Problem
from toolkit.unwind.trust import Frame, Trust
from toolkit.stackwalk.common import (frame_from_scan, frame_pointer_caller, has_unwind_info,
                                      lookup_address, stack_end)
from toolkit.unwind.amd64_virtual_unwind import unwind_function

NONVOLATILE = ("rip", "rsp", "rbp", "rbx", "rsi", "rdi", "r12", "r13", "r14", "r15")


def caller_frame(ctx, frame: Frame) -> Optional[Frame]:
    """The caller of ``frame`` by the best rule available, or None."""
    return (_by_unwind_info(ctx, frame)
            or frame_pointer_caller(ctx, frame, "rip", "rsp", "rbp")
            or frame_from_scan(ctx, frame, frame.sp, "rip", "rsp", "rbp",
                               validate=lambda slot, value: _unwinds(ctx, frame, slot, value),
                               long_scan=not has_unwind_info(ctx, frame)))


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
        regs = dict(_carried(frame), rip=value, rsp=slot + 8)
        result = unwind_function(data, module.base, entry, regs, ctx.read, ctx.read_code,
                                 static_frame=True)
    except KeyError:
        return True                  # needs a frame register we do not know: cannot judge
    except DumpkitError:
        return False
    end = stack_end(ctx)
    if end is not None and result.rsp > end:
        return False
    return result.rip == 0 or ctx.is_code(result.rip)


def _carried(frame: Frame):
    return {k: v for k, v in frame.registers.items() if k in NONVOLATILE}


def _by_unwind_info(ctx, frame: Frame) -> Optional[Frame]:
    from toolkit.unwind.amd64_virtual_unwind import unwind_leaf

    address = lookup_address(frame)
    module = ctx.module_at(address)
    if module is None:
        return None
    data = ctx.unwind_data(module)
    if data is None:
        return None
    regs = {k: v for k, v in frame.registers.items() if k in NONVOLATILE}
    try:
        entry = data.function_at(address - module.base)
        if entry is None:
            if frame.trust is not Trust.CONTEXT:
                return None
            result = unwind_leaf(regs, ctx.read)
        else:
            # a scanned frame's frame register is the callee's, not this function's
            scanned = frame.trust in (Trust.SCAN, Trust.SCAN_CALLSITE)
            result = unwind_function(data, module.base, entry, regs, ctx.read, ctx.read_code,
                                     static_frame=scanned)
    except KeyError as exc:          # a register the unwind codes need is unknown here
        ctx.notes.setdefault("problems", []).append(
            Problem("stackwalk.unwind", f"frame {frame.index} at {frame.ip:#x}: "
                                        f"register {exc} unknown"))
        return None
    except DumpkitError as exc:
        ctx.notes.setdefault("problems", []).append(
            Problem("stackwalk.unwind", f"frame {frame.index} at {frame.ip:#x}: {exc}"))
        return None
    caller = {k: v for k, v in result.registers.items() if k in NONVOLATILE}
    rip, rsp = caller["rip"], caller["rsp"]
    if rip >= 4096 and not ctx.is_code(rip):     # symbols may not cover CRT code: code suffices
        ctx.notes.setdefault("problems", []).append(Problem(
            "stackwalk.unwind_bad_ip",
            f"frame {frame.index}: unwind info gave {rip:#x}, not code; trying other rules"))
        return None
    return Frame(frame.index + 1, rip, rsp, Trust.CFI, caller.get("rbp"), caller,
                 problems=tuple(result.problems))


__all__ = ["caller_frame"]
