"""x64 virtual unwind: the caller's registers from a function's UNWIND_INFO, like RtlVirtualUnwind.

Follows the algorithm of Windows' RtlVirtualUnwind (as documented in "x64 exception handling"
and reimplemented by ReactOS and Wine, dlls/ntdll/unwind.c), so frame 0 unwinds correctly wherever
the instruction pointer stands:

1. In an epilog (the bytes at RIP are the tail of one: optional ``add rsp, imm`` or
   ``lea rsp, [framereg+disp]``, pops of non-volatiles, then ``ret`` / ``jmp`` out of the
   function): the unwind codes describe the prolog, not this state, so the remaining epilog
   instructions are emulated instead.
2. Else the unwind codes are undone in order, skipping, while RIP is inside the prolog, the ones
   whose CodeOffset is beyond the current offset (their instructions have not run yet). Chained
   UNWIND_INFO is then applied as if fully past its prolog.
3. The return address is popped (RIP = [RSP], RSP += 8), unless a machine frame supplied RIP/RSP.

A function without a .pdata entry is a leaf: RIP = [RSP], RSP += 8.

Option ``static_frame``: a walker that found a frame by scanning the stack knows its RIP and
RSP but not its frame register (the callee's value says nothing about this function). With
``static_frame=True`` the unwinder assumes the function allocated nothing dynamically after its
prolog, so the frame register still holds what UWOP_SET_FPREG gave it: RSP plus the allocations
the prolog made after SET_FPREG, plus FrameOffset*16. Without the option an unknown frame
register raises KeyError, as RtlVirtualUnwind would read garbage.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Tuple

from toolkit.model.errors import UnreadableMemory
from toolkit.model.target import Problem
from toolkit.unwind.amd64_epilog import emulate_epilog
from toolkit.unwind.amd64_unwind_info import (
    ImageUnwindData, RuntimeFunction, UNW_FLAG_CHAININFO, UnwindInfo,
)

ReadMemory = Callable[[int, int], bytes]
MASK64 = (1 << 64) - 1


class UnwindRule(str, enum.Enum):
    LEAF = "leaf"                      # no unwind info: return address at [RSP]
    UNWIND_CODES = "unwind_codes"      # past the prolog: every code applied
    PROLOG = "prolog"                  # inside the prolog: only the codes already executed
    EPILOG = "epilog"                  # inside an epilog: the rest of it emulated
    MACHINE_FRAME = "machine_frame"    # a PUSH_MACHFRAME supplied RIP and RSP


@dataclass(frozen=True)
class UnwindResult:
    """The caller's registers as far as the rule recovered them, and how."""

    registers: Mapping[str, int]       # rip, rsp and every restored non-volatile (xmmN: 128-bit)
    rule: UnwindRule
    establisher_frame: Optional[int] = None
    restored: Tuple[str, ...] = ()     # registers this frame's codes restored from memory
    problems: Tuple[Problem, ...] = field(default_factory=tuple)

    @property
    def rip(self) -> int:
        return self.registers["rip"]

    @property
    def rsp(self) -> int:
        return self.registers["rsp"]

    def to_json(self) -> Dict[str, object]:
        return {"rule": self.rule.value,
                "registers": {k: f"0x{v:016x}" for k, v in sorted(self.registers.items())
                              if not k.startswith("xmm")},
                "establisher_frame": None if self.establisher_frame is None
                else f"0x{self.establisher_frame:016x}",
                "restored": list(self.restored),
                "problems": [p.to_json() for p in self.problems]}


def _u64(read: ReadMemory, address: int) -> int:
    raw = read(address, 8)
    if len(raw) != 8:
        raise UnreadableMemory(address, 8)
    return int.from_bytes(raw, "little")


def unwind_leaf(registers: Mapping[str, int], read: ReadMemory) -> UnwindResult:
    """A function with no unwind info has not touched RSP: the return address is at [RSP]."""
    regs = dict(registers)
    rsp = regs["rsp"]
    regs["rip"] = _u64(read, rsp)
    regs["rsp"] = (rsp + 8) & MASK64
    return UnwindResult(regs, UnwindRule.LEAF, establisher_frame=rsp)


def virtual_unwind(data: ImageUnwindData, image_base: int, registers: Mapping[str, int],
                   read: ReadMemory, read_code: Optional[ReadMemory] = None, *,
                   static_frame: bool = False) -> UnwindResult:
    """Unwind one frame of the image ``data`` describes; RIP must lie inside that image.

    ``read`` reads stack memory (raises UnreadableMemory); ``read_code`` reads the bytes at RIP
    for the epilog check (defaults to ``read``). Reading the return address may raise
    UnreadableMemory; trouble with a saved non-volatile is reported as a problem and that
    register is left out (unknown) instead. ``static_frame``: see the module doc.
    """
    rip = registers["rip"]
    entry = data.function_at(rip - image_base)
    if entry is None:
        return unwind_leaf(registers, read)
    return unwind_function(data, image_base, entry, registers, read, read_code or read,
                           static_frame=static_frame)


def unwind_function(data: ImageUnwindData, image_base: int, entry: RuntimeFunction,
                    registers: Mapping[str, int], read: ReadMemory,
                    read_code: ReadMemory, *, static_frame: bool = False) -> UnwindResult:
    chain = data.chain(entry)
    primary = chain[0][1]
    regs = dict(registers)
    if static_frame:
        regs.update(static_frame_register([info for _, info in chain], regs["rsp"]))
    offset = regs["rip"] - image_base - entry.begin
    in_prolog = 0 <= offset < primary.size_of_prolog
    chained = bool(primary.flags & UNW_FLAG_CHAININFO)
    # A chained fragment's own codes honour the prolog offset, but its frame register was set
    # by the parent's prolog, which has run (RtlVirtualUnwind does the same).
    frame = _establisher_frame(primary, regs, offset if in_prolog and not chained else None)
    if not in_prolog:
        epilog = emulate_epilog(regs, read, read_code, image_base, entry, primary)
        if epilog is not None:
            return UnwindResult(epilog[0], UnwindRule.EPILOG, frame, epilog[1])
    problems: List[Problem] = []
    restored: List[str] = []
    machine = False
    prolog_offset: Optional[int] = offset if in_prolog else None
    original = dict(regs)
    for position, (_, info) in enumerate(chain):
        if position:
            prolog_offset = None           # chained parents are never "in prolog"
            if primary.frame_register is None and info.frame_register is not None:
                # The parent's prolog set the frame register; the child left it alone.
                frame = _establisher_frame(info, original, None)
        machine |= _apply_codes(info, regs, frame, prolog_offset, read, problems, restored)
        if machine:
            break
    rule = UnwindRule.PROLOG if in_prolog else UnwindRule.UNWIND_CODES
    if machine:
        rule = UnwindRule.MACHINE_FRAME
    else:
        rsp = regs["rsp"]
        regs["rip"] = _u64(read, rsp)
        regs["rsp"] = (rsp + 8) & MASK64
    return UnwindResult(regs, rule, frame, tuple(restored), tuple(problems))


def static_frame_register(chain: List[UnwindInfo], rsp: int) -> Dict[str, int]:
    """{frame register: its value} for a function past its prolog with no dynamic allocation.

    The operations are listed last-executed first, so those before UWOP_SET_FPREG in the list
    moved RSP after the frame register was set; undoing them from ``rsp`` gives RSP at
    SET_FPREG, and the frame register is that plus FrameOffset*16. {} without a frame register.
    """
    for info in chain:
        if info.frame_register is None:
            continue
        after = 0
        for op in info.ops:
            if op.op == "UWOP_SET_FPREG":
                break
            if op.op in ("UWOP_ALLOC_SMALL", "UWOP_ALLOC_LARGE"):
                after += op.value
            elif op.op == "UWOP_PUSH_NONVOL":
                after += 8
        return {info.frame_register: (rsp + after + info.frame_offset) & MASK64}
    return {}


def _establisher_frame(info: UnwindInfo, regs: Mapping[str, int],
                       prolog_offset: Optional[int]) -> int:
    """RSP after the fixed allocation: frame register - FrameOffset*16 once SET_FPREG ran."""
    if info.frame_register is None:
        return regs["rsp"]
    if prolog_offset is not None:
        setters = [op for op in info.ops if op.op == "UWOP_SET_FPREG"]
        if not setters or prolog_offset < setters[0].code_offset:
            return regs["rsp"]
    return (regs[info.frame_register] - info.frame_offset) & MASK64


def _apply_codes(info: UnwindInfo, regs: Dict[str, int], frame: int,
                 prolog_offset: Optional[int], read: ReadMemory, problems: List[Problem],
                 restored: List[str]) -> bool:
    """Undo one UNWIND_INFO's operations in place; True when a machine frame ended the unwind."""
    for k, op in enumerate(info.ops):
        if prolog_offset is not None and prolog_offset < op.code_offset:
            continue                       # this prolog instruction has not executed yet
        name = op.op
        if name == "UWOP_PUSH_NONVOL":
            _restore(regs, op.register, regs["rsp"], 8, read, problems, restored)
            regs["rsp"] = (regs["rsp"] + 8) & MASK64
        elif name in ("UWOP_ALLOC_SMALL", "UWOP_ALLOC_LARGE"):
            regs["rsp"] = (regs["rsp"] + op.value) & MASK64
        elif name == "UWOP_SET_FPREG":
            regs["rsp"] = frame
        elif name in ("UWOP_SAVE_NONVOL", "UWOP_SAVE_NONVOL_FAR"):
            _restore(regs, op.register, frame + op.value, 8, read, problems, restored)
        elif name in ("UWOP_SAVE_XMM128", "UWOP_SAVE_XMM128_FAR"):
            _restore(regs, op.register, frame + op.value, 16, read, problems, restored)
        elif name == "UWOP_PUSH_MACHFRAME":
            if k != len(info.ops) - 1 or info.flags & UNW_FLAG_CHAININFO:
                problems.append(Problem("machframe_misplaced",
                                        "PUSH_MACHFRAME is not the last operation; ignored"))
                continue
            base = regs["rsp"] + (8 if op.value else 0)   # skip the pushed error code
            regs["rip"] = _u64(read, base)
            regs["rsp"] = _u64(read, base + 24)
            return True
        elif name == "UWOP_EPILOG":
            continue                       # v2 epilog descriptors: not prolog operations
        else:
            problems.append(Problem("unknown_unwind_op",
                                    f"{name} at code offset {op.code_offset:#x} skipped"))
    return False


def _restore(regs: Dict[str, int], name: Optional[str], address: int, size: int,
             read: ReadMemory, problems: List[Problem], restored: List[str]) -> None:
    assert name is not None
    try:
        raw = read(address, size)
        if len(raw) != size:
            raise UnreadableMemory(address, size)
    except UnreadableMemory:
        regs.pop(name, None)
        problems.append(Problem("unreadable_saved_register",
                                f"saved {name} at {address:#x} is not in the dump"))
        return
    regs[name] = int.from_bytes(raw, "little")
    restored.append(name)


__all__ = ["UnwindRule", "UnwindResult", "virtual_unwind", "unwind_function", "unwind_leaf",
           "static_frame_register"]
