"""A tiny x64 emulator for prolog/epilog instructions, decoded by capstone (tests only).

It builds the stack a real function's machine code would build, independently of the unwind
info, so the unwinder's answer can be checked against what the instructions actually did.
Only the forms MSVC emits in prologs and epilogs are supported; anything else raises
``Unsupported`` and the caller picks another function.
"""

from __future__ import annotations

from typing import Dict, Iterator, List, Tuple

import capstone
from capstone import x86_const as X

MASK64 = (1 << 64) - 1
GS_COOKIE = 0x2B992DDFA232
NONVOLATILES = ("rbx", "rbp", "rsi", "rdi", "r12", "r13", "r14", "r15")


class Unsupported(Exception):
    pass


class Memory:
    """Sparse little-endian memory: a dict of bytes; reads of unwritten bytes fail."""

    def __init__(self) -> None:
        self.bytes: Dict[int, int] = {}

    def write(self, address: int, data: bytes) -> None:
        for k, b in enumerate(data):
            self.bytes[address + k] = b

    def read(self, address: int, size: int) -> bytes:
        from toolkit.model.errors import UnreadableMemory
        try:
            return bytes(self.bytes[address + k] for k in range(size))
        except KeyError:
            raise UnreadableMemory(address, size) from None


def disassembler() -> capstone.Cs:
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    md.detail = True
    return md


def instructions(code: bytes, address: int) -> Iterator[capstone.CsInsn]:
    return disassembler().disasm(code, address)


def _mem_address(insn, op, regs) -> int:
    m = op.mem
    if m.index != 0 or m.base == 0:
        raise Unsupported(insn.mnemonic + " " + insn.op_str)
    base = insn.reg_name(m.base)
    if base == "rip":
        return (insn.address + insn.size + m.disp) & MASK64
    return (regs[base] + m.disp) & MASK64


def step(insn, regs: Dict[str, int], mem: Memory) -> None:
    """Execute one prolog/epilog instruction on ``regs``/``mem``."""
    ops = insn.operands
    name = insn.mnemonic
    if name == "push" and ops[0].type == X.X86_OP_REG:
        regs["rsp"] = (regs["rsp"] - 8) & MASK64
        mem.write(regs["rsp"], regs[insn.reg_name(ops[0].reg)].to_bytes(8, "little"))
    elif name == "pop" and ops[0].type == X.X86_OP_REG:
        regs[insn.reg_name(ops[0].reg)] = int.from_bytes(mem.read(regs["rsp"], 8), "little")
        regs["rsp"] = (regs["rsp"] + 8) & MASK64
    elif name in ("sub", "add") and ops[0].type == X.X86_OP_REG and \
            insn.reg_name(ops[0].reg) == "rsp" and ops[1].type == X.X86_OP_IMM:
        sign = -1 if name == "sub" else 1
        regs["rsp"] = (regs["rsp"] + sign * ops[1].imm) & MASK64
    elif name == "mov" and ops[0].type == X.X86_OP_MEM and ops[1].type == X.X86_OP_REG \
            and ops[0].size == 8:
        mem.write(_mem_address(insn, ops[0], regs),
                  regs[insn.reg_name(ops[1].reg)].to_bytes(8, "little"))
    elif name in ("movaps", "movdqa", "movups", "movdqu") and ops[0].type == X.X86_OP_MEM:
        mem.write(_mem_address(insn, ops[0], regs),
                  regs[insn.reg_name(ops[1].reg)].to_bytes(16, "little"))
    elif name == "lea" and ops[0].type == X.X86_OP_REG and ops[1].type == X.X86_OP_MEM:
        regs[insn.reg_name(ops[0].reg)] = _mem_address(insn, ops[1], regs)
    elif name == "mov" and ops[0].type == X.X86_OP_REG and ops[1].type == X.X86_OP_REG \
            and ops[0].size == 8:
        regs[insn.reg_name(ops[0].reg)] = regs[insn.reg_name(ops[1].reg)]
    elif name == "mov" and ops[0].type == X.X86_OP_REG and ops[1].type == X.X86_OP_MEM \
            and ops[1].size == 8 and insn.reg_name(ops[1].mem.base) == "rip":
        regs[insn.reg_name(ops[0].reg)] = GS_COOKIE      # /GS: load __security_cookie
    elif name == "xor" and ops[0].type == X.X86_OP_REG and ops[1].type == X.X86_OP_REG:
        a, b = insn.reg_name(ops[0].reg), insn.reg_name(ops[1].reg)
        if a in regs and b in regs:
            regs[a] = regs[a] ^ regs[b]
        else:
            raise Unsupported(f"{name} {insn.op_str}")
    else:
        raise Unsupported(f"{name} {insn.op_str}")


def initial_state(return_address: int, caller_rsp: int) -> Tuple[Dict[str, int], Memory]:
    """Registers just after the CALL: each non-volatile holds a recognisable sentinel."""
    regs = {name: 0x5E17_0000_0000_0000 | (k << 8) for k, name in enumerate(
        ("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
         "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"))}
    for k in range(16):
        regs[f"xmm{k}"] = (0xC0DE << 112) | k
    mem = Memory()
    regs["rsp"] = caller_rsp - 8
    mem.write(regs["rsp"], return_address.to_bytes(8, "little"))
    # Home space and the caller's frame above the return address are readable too.
    mem.write(caller_rsp, bytes(64))
    return regs, mem


def run_prolog(code: bytes, address: int, prolog_size: int, regs: Dict[str, int],
               mem: Memory) -> List[Tuple[int, Dict[str, int], Memory]]:
    """States (offset, regs, memory snapshot) at every instruction boundary of a prolog."""
    regs, mem = dict(regs), _copy(mem)
    regs["rip"] = address
    states = [(0, dict(regs), _copy(mem))]
    for insn in instructions(code[:prolog_size], address):
        step(insn, regs, mem)
        regs["rip"] = insn.address + insn.size
        states.append((insn.address + insn.size - address, dict(regs), _copy(mem)))
    if states[-1][0] != prolog_size:
        raise Unsupported("prolog does not end on an instruction boundary")
    return states


def _copy(mem: Memory) -> Memory:
    out = Memory()
    out.bytes = dict(mem.bytes)
    return out
