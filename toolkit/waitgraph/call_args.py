"""Arguments of a call, recovered from a walked stack: what a waiting thread passed to the wait API.

x86 (stdcall/cdecl): the arguments sit on the stack right above the return address, so the
caller frame's SP (the slot after the return address) is argument 0. That holds whatever the
callee did later, except that a callee may overwrite its own incoming arguments (rare; stated).

x64: the first four arguments travel in rcx, rdx, r8, r9, which are volatile, so the callee's
frames do not keep them. What can be recovered is where the *caller* got the value from, by
replaying the caller's instructions from its entry to the call (straight-line, capstone):

* a constant (``lea rcx, [rip+g_cs]``, ``mov ecx, imm``) - exact;
* a global (``mov rcx, [rip+g_handle]``) - its value at dump time;
* a copy kept in a non-volatile register (``mov rsi, rcx`` ... ``mov rcx, rsi``) - the value the
  unwinder restored for the caller frame, trusted only when every frame up to the caller was
  unwound from unwind info (CONTEXT/CFI), since a scanned frame leaves non-volatiles unknown;
* a stack slot (a spill to the function's home space or locals, or an incoming stack argument) -
  read from the stack at the caller's entry RSP plus the offset;
* the caller's own incoming argument, untouched - then the same question one frame further up.

Anything else (a value computed in a volatile register, a branchy path, code not in the dump or
on the symbol path) gives ``None`` with the reason, never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from toolkit.model.errors import UnreadableMemory
from toolkit.unwind.trust import Frame, Trust

X64_ARG_REGISTERS = ("rcx", "rdx", "r8", "r9")
X64_VOLATILE = frozenset({"rax", "rcx", "rdx", "r8", "r9", "r10", "r11"})
X64_NONVOLATILE = ("rbx", "rbp", "rdi", "rsi", "r12", "r13", "r14", "r15")
MAX_FUNCTION_BYTES = 0x4000     # replay at most this much of a caller (from its entry)
MAX_DEPTH = 4                   # frames to climb for an argument passed straight through

_SUBREGS: Dict[str, str] = {}
for _reg64, _subs in {"rax": ("eax", "ax", "al", "ah"), "rbx": ("ebx", "bx", "bl", "bh"),
                      "rcx": ("ecx", "cx", "cl", "ch"), "rdx": ("edx", "dx", "dl", "dh"),
                      "rsi": ("esi", "si", "sil"), "rdi": ("edi", "di", "dil"),
                      "rbp": ("ebp", "bp", "bpl"), "rsp": ("esp", "sp", "spl")}.items():
    _SUBREGS[_reg64] = _reg64
    for _s in _subs:
        _SUBREGS[_s] = _reg64
for _n in range(8, 16):
    for _suffix in ("", "d", "w", "b"):
        _SUBREGS[f"r{_n}{_suffix}"] = f"r{_n}"


@dataclass(frozen=True)
class CallSite:
    """The CALL before a frame's return address and what it calls (direct or through a slot)."""

    address: int
    target: Optional[int]
    target_name: Optional[str]       # the resolver's name for the target (a thunk, an export)
    text: str                        # "call 0x401a00" as disassembled


@dataclass(frozen=True)
class ArgValue:
    value: Optional[int]
    how: str                         # where it came from, or why it is unknown


def _capstone(ctx):
    import capstone

    mode = capstone.CS_MODE_64 if ctx.pointer_size == 8 else capstone.CS_MODE_32
    md = capstone.Cs(capstone.CS_ARCH_X86, mode)
    md.detail = True
    return md


def call_site(ctx, frame: Frame) -> Optional[CallSite]:
    """The CALL that returns to ``frame.ip`` (a caller frame), decoded; None when there is none."""
    if frame.trust is Trust.CONTEXT:
        return None
    length = ctx.call_length(frame.ip)
    if not length:
        return None
    try:
        code = ctx.read_code(frame.ip - length, length)
    except UnreadableMemory:
        return None
    insns = list(_capstone(ctx).disasm(code, frame.ip - length))
    if len(insns) != 1 or insns[0].mnemonic != "call":
        return None
    insn = insns[0]
    target, slot = _call_target(ctx, insn)
    name = _name_of(ctx, target) if target is not None else None
    if name is None and slot is not None:
        slot_name = _name_of(ctx, slot)
        if slot_name:
            name = slot_name.split("__imp_", 1)[-1]
    return CallSite(insn.address, target, name, f"{insn.mnemonic} {insn.op_str}")


def _call_target(ctx, insn) -> Tuple[Optional[int], Optional[int]]:
    import capstone.x86 as x86

    op = insn.operands[0]
    if op.type == x86.X86_OP_IMM:
        return op.imm & ((1 << (8 * ctx.pointer_size)) - 1), None
    if op.type == x86.X86_OP_MEM and op.mem.index == 0:
        if op.mem.base == x86.X86_REG_RIP:
            slot = insn.address + insn.size + op.mem.disp
        elif op.mem.base == 0:
            slot = op.mem.disp & 0xFFFFFFFF
        else:
            return None, None
        return _read_code_pointer(ctx, slot), slot
    return None, None


def _read_code_pointer(ctx, address: int) -> Optional[int]:
    try:
        return int.from_bytes(ctx.read_code(address, ctx.pointer_size), "little")
    except UnreadableMemory:
        return None


def _name_of(ctx, address: int) -> Optional[str]:
    loc = ctx.location(address)
    if loc is None or loc.symbol is None or loc.displacement != 0:
        return None
    return loc.symbol


def argument(ctx, frames: Sequence[Frame], caller: int, index: int) -> ArgValue:
    """Argument ``index`` of the call made by ``frames[caller]`` (its IP is the return address)."""
    frame = frames[caller]
    if ctx.pointer_size == 4:
        slot, note = _x86_call_esp(ctx, frames, caller)
        address = slot + 4 + 4 * index
        value = ctx.read_pointer(address)
        if value is None:
            return ArgValue(None, f"stack slot {address:#x} not in the dump")
        return ArgValue(value, f"stack [{address:#x}] (argument {index} above the return "
                               f"address at {slot:#x}{note})")
    if index >= len(X64_ARG_REGISTERS):
        address = frame.sp + 8 * index
        value = ctx.read_pointer(address)
        return ArgValue(value, f"stack [{address:#x}]" if value is not None
                        else f"stack slot {address:#x} not in the dump")
    return _x64_register(ctx, frames, caller, X64_ARG_REGISTERS[index], 0)


def _x86_call_esp(ctx, frames: Sequence[Frame], caller: int) -> Tuple[int, str]:
    """The slot of the return address ``frames[caller].ip`` (ESP after the CALL pushed it).

    The caller's own entry ESP is known when its caller's frame checks out (the slot below that
    frame's SP holds its return address); replaying the caller's pushes and ``sub esp`` from its
    entry to the call then gives ESP at the call independently of how the walker got through the
    callee (a frame-pointer step through Wine's symbol-less DLLs can land on a stale copy of the
    return address a few slots off). Otherwise the walker's SP is used.
    """
    frame = frames[caller]
    walker = frame.sp - 4
    if caller + 1 < len(frames):
        parent = frames[caller + 1]
        entry = parent.sp - 4
        start = _function_start(ctx, frame)
        call = frame.ip - (ctx.call_length(frame.ip) or 0)
        if ctx.read_pointer(entry) == parent.ip and start is not None and \
                0 < call - start <= MAX_FUNCTION_BYTES:
            try:
                code = ctx.read_code(start, call - start)
            except UnreadableMemory:
                code = b""
            if code:
                state, _slots, delta, notes = _replay(ctx, code, start)
                slot = entry + delta - 4
                if state and ctx.read_pointer(slot) == frame.ip:
                    return slot, ("" if slot == walker else
                                  f"; from the caller's entry ESP {entry:#x} and its pushes, "
                                  f"not the walker's SP {frame.sp:#x}")
    if ctx.read_pointer(walker) == frame.ip:
        return walker, ""
    return walker, "; return address not found at the walker's SP, taken as is"


# -- x64: replay the caller from its entry to the call --------------------------------------

def _function_start(ctx, frame: Frame) -> Optional[int]:
    loc = ctx.location(frame.ip, caller=True)
    if loc is not None and loc.symbol is not None and loc.displacement > 0:
        return frame.ip - loc.displacement
    module = ctx.module_at(frame.ip)
    data = ctx.unwind_data(module) if module is not None else None
    if data is None:
        return None
    entry = data.function_at(frame.ip - 1 - module.base)
    if entry is None:
        return None
    chain = data.chain(entry)
    return module.base + (chain[-1][0].begin if chain else entry.begin)


def _x64_register(ctx, frames: Sequence[Frame], caller: int, reg: str, depth: int) -> ArgValue:
    frame = frames[caller]
    start = _function_start(ctx, frame)
    call = frame.ip - (ctx.call_length(frame.ip) or 0)
    if start is None or call <= start:
        return ArgValue(None, f"{reg}: the caller's function start is unknown (no symbols or "
                              ".pdata for it)")
    if call - start > MAX_FUNCTION_BYTES:
        return ArgValue(None, f"{reg}: the caller is too long to replay ({call - start:#x} bytes)")
    try:
        code = ctx.read_code(start, call - start)
    except UnreadableMemory:
        return ArgValue(None, f"{reg}: the caller's code is neither in the dump nor on the "
                              "symbol path")
    state, slots, delta, notes = _replay(ctx, code, start)
    value = state.get(reg, ("entry", reg))
    origin = f"{reg} at the call {call:#x}"
    if value[0] == "const":
        return ArgValue(value[1], f"{origin}: set by `{value[2]}` in the caller")
    if value[0] == "global":
        read = ctx.read_pointer(value[1])
        if read is None:
            return ArgValue(None, f"{origin}: loaded from {value[1]:#x}, not in the dump")
        return ArgValue(read, f"{origin}: loaded by `{value[2]}` from {value[1]:#x} "
                              "(value at dump time)")
    if value[0] == "stack":
        address = frame.sp - delta + value[1]
        read = ctx.read_pointer(address)
        if read is None:
            return ArgValue(None, f"{origin}: from stack slot {address:#x}, not in the dump")
        return ArgValue(read, f"{origin}: from stack slot {address:#x} (rsp{value[1] - delta:+#x} "
                              "at the call)")
    if value[0] == "entry":
        found = _kept_copy(frames, caller, state, slots, delta, value, ctx)
        if found is not None:
            return ArgValue(found[0], f"{origin}: the caller's incoming {value[1]}, {found[1]}")
        src = value[1]
        if depth + 1 < MAX_DEPTH and caller + 1 < len(frames):
            if src in X64_ARG_REGISTERS:
                up = _x64_register(ctx, frames, caller + 1, src, depth + 1)
                if up.value is not None:
                    return ArgValue(up.value, f"{origin}: passed through from the caller's caller; "
                                              f"{up.how}")
                return ArgValue(None, f"{origin}: passed through, then {up.how}")
            if src in X64_NONVOLATILE and _trusted(frames, caller + 1):
                kept = frames[caller + 1].registers.get(src)
                if kept is not None:
                    return ArgValue(kept, f"{origin}: the caller's incoming {src}, restored by "
                                          "the unwinder")
        return ArgValue(None, f"{origin}: the caller's incoming {src}, not kept anywhere "
                              "recoverable")
    return ArgValue(None, f"{origin}: {value[1]}" + (f" ({'; '.join(notes)})" if notes else ""))


def _trusted(frames: Sequence[Frame], upto: int) -> bool:
    """Non-volatile registers of frames[upto] are exact: every frame so far came from unwind info."""
    return all(f.trust in (Trust.CONTEXT, Trust.CFI) for f in frames[1:upto + 1])


def _kept_copy(frames, caller, state, slots, delta, value, ctx) -> Optional[Tuple[int, str]]:
    for reg in X64_NONVOLATILE:
        if state.get(reg, ("entry", reg)) == value:
            if _trusted(frames, caller):
                kept = frames[caller].registers.get(reg)
                if kept is not None:
                    return kept, f"kept in non-volatile {reg} (restored by the unwinder)"
    for offset, held in sorted(slots.items()):
        if held == value:
            address = frames[caller].sp - delta + offset
            read = ctx.read_pointer(address)
            if read is not None:
                return read, f"spilled to stack slot {address:#x}"
    return None


def _replay(ctx, code: bytes, start: int):
    """Straight-line symbolic replay: register -> ("entry", reg) | ("const", v, text) |
    ("global", address, text) | ("stack", entry-relative offset) | ("unknown", why)."""
    import capstone.x86 as x86

    state: Dict[str, tuple] = {}
    slots: Dict[int, tuple] = {}
    delta = 0          # rsp - entry rsp
    notes: List[str] = []
    for insn in _capstone(ctx).disasm(code, start):
        m, ops = insn.mnemonic, insn.operands
        text = f"{m} {insn.op_str}"
        if m.startswith("j") and m != "jmp":
            if "branches" not in notes:
                notes.append("branches")
            continue
        if m == "call":
            for reg in X64_VOLATILE:
                state[reg] = ("unknown", f"clobbered by `{text}` at {insn.address:#x}")
            continue
        if m == "push":
            delta -= ctx.pointer_size
            if ops and ops[0].type == x86.X86_OP_REG:
                reg = _full(insn.reg_name(ops[0].reg))
                slots[delta] = state.get(reg, ("entry", reg))
            continue
        if m == "pop":
            if ops and ops[0].type == x86.X86_OP_REG:
                state[_full(insn.reg_name(ops[0].reg))] = slots.get(delta, ("unknown", text))
            delta += ctx.pointer_size
            continue
        if len(ops) == 2 and ops[0].type == x86.X86_OP_REG and \
                _full(insn.reg_name(ops[0].reg)) == "rsp":
            if m in ("sub", "add") and ops[1].type == x86.X86_OP_IMM:
                delta += -ops[1].imm if m == "sub" else ops[1].imm
                continue
            notes.append(f"rsp changed by `{text}`")
            return {}, {}, delta, notes
        if len(ops) == 2 and ops[0].type == x86.X86_OP_MEM and m == "mov":
            offset = _stack_offset(insn, ops[0], delta)
            if offset is not None:
                slots[offset] = _source(insn, ops[1], state, slots, delta, text)
            continue
        written = [_full(insn.reg_name(r)) for r in insn.regs_access()[1]]
        if len(ops) == 2 and ops[0].type == x86.X86_OP_REG and m in ("mov", "lea", "movabs") and \
                ops[0].size >= 4:
            dst = _full(insn.reg_name(ops[0].reg))
            value = _source(insn, ops[1], state, slots, delta, text, lea=m == "lea")
            if ops[0].size == 4 and value[0] not in ("const", "unknown"):
                value = ("unknown", f"32-bit copy `{text}`")
            state[dst] = value
            continue
        if m == "xor" and len(ops) == 2 and ops[0].type == ops[1].type == x86.X86_OP_REG and \
                ops[0].reg == ops[1].reg:
            state[_full(insn.reg_name(ops[0].reg))] = ("const", 0, text)
            continue
        for reg in written:
            if reg in _SUBREGS.values() and reg != "rsp":
                state[reg] = ("unknown", f"computed by `{text}` at {insn.address:#x}")
    return state, slots, delta, notes


def _full(name: str) -> str:
    return _SUBREGS.get(name, name)


def _stack_offset(insn, op, delta: int) -> Optional[int]:
    import capstone.x86 as x86

    if op.mem.base == x86.X86_REG_RSP and op.mem.index == 0:
        return delta + op.mem.disp
    return None


def _source(insn, op, state, slots, delta: int, text: str, lea: bool = False) -> tuple:
    import capstone.x86 as x86

    if op.type == x86.X86_OP_IMM:
        return ("const", op.imm & 0xFFFFFFFFFFFFFFFF, text)
    if op.type == x86.X86_OP_REG:
        reg = _full(insn.reg_name(op.reg))
        return state.get(reg, ("entry", reg))
    if op.type == x86.X86_OP_MEM:
        if op.mem.base == x86.X86_REG_RIP and op.mem.index == 0:
            address = insn.address + insn.size + op.mem.disp
            return ("const", address, text) if lea else ("global", address, text)
        offset = _stack_offset(insn, op, delta)
        if offset is not None and not lea:
            if offset in slots:
                return slots[offset]
            if offset > 0:
                return ("stack", offset)
    return ("unknown", f"computed by `{text}` at {insn.address:#x}")


__all__ = ["CallSite", "ArgValue", "call_site", "argument", "X64_ARG_REGISTERS"]
