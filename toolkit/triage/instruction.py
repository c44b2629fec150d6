"""The faulting instruction: capstone's disassembly and its memory operands evaluated from the
exception context (like rust-minidump's ``crash_info.instruction`` / ``memory_accesses``).

capstone (not our own decoder) because x86/x64 operand decoding (prefixes, SIB, RIP-relative,
segment overrides) is exactly where hand-written decoders go wrong. An operand's address is
``base + index * scale + disp`` from the context's registers; ``fs``/``gs`` segment bases are
not in a context record, so such operands are listed with ``address: None``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Tuple

from toolkit.model.hexfmt import hex_addr
from toolkit.model.target import Arch, Target

MAX_INSTRUCTION = 15           # the longest x86 instruction


@dataclass(frozen=True)
class MemoryAccess:
    """One memory operand of the instruction: where it points and what the CPU did there."""

    address: Optional[int]
    size: int
    access: str                 # "read" | "write" | "read_write"
    expression: str             # e.g. "[rax+0x10]"

    def to_json(self, pointer_size: int = 8) -> Dict[str, Any]:
        return {"address": hex_addr(self.address, pointer_size), "size": self.size,
                "access": self.access, "expression": self.expression}


@dataclass(frozen=True)
class Instruction:
    address: int
    size: int
    text: str                   # "mov dword ptr [0x10], ecx"
    bytes_hex: str
    memory_accesses: Tuple[MemoryAccess, ...]

    def to_json(self, pointer_size: int = 8) -> Dict[str, Any]:
        return {"address": hex_addr(self.address, pointer_size), "size": self.size,
                "text": self.text, "bytes": self.bytes_hex,
                "memory_accesses": [m.to_json(pointer_size) for m in self.memory_accesses]}


@functools.lru_cache(maxsize=None)
def _engine(arch: Arch) -> Any:
    """One capstone decoder per architecture for the process (a triage worker disassembles a
    faulting instruction per dump; making the decoder each time cost more than decoding)."""
    import capstone
    mode = {Arch.X86: capstone.CS_MODE_32, Arch.AMD64: capstone.CS_MODE_64}.get(arch)
    if mode is not None:
        md = capstone.Cs(capstone.CS_ARCH_X86, mode)
    elif arch is Arch.ARM64:
        md = capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)
    else:
        return None
    md.detail = True
    return md


def _read_code(target: Target, address: int) -> bytes:
    """Up to 15 bytes at ``address``, fewer where the dump's memory ends."""
    for size in range(MAX_INSTRUCTION, 0, -1):
        if target.is_readable(address, size):
            return target.read(address, size)
    return b""


def disassemble(target: Target, address: int,
                registers: Optional[Mapping[str, int]] = None) -> Optional[Instruction]:
    """The instruction at ``address`` with its memory operands, or None when the dump has no
    code bytes there or capstone cannot decode them."""
    md = _engine(target.arch)
    if md is None:
        return None
    code = _read_code(target, address)
    if not code:
        return None
    insn = next(md.disasm(code, address, 1), None)
    if insn is None:
        return None
    accesses: Tuple[MemoryAccess, ...] = ()
    if target.arch in (Arch.X86, Arch.AMD64):
        accesses = _x86_accesses(insn, registers or {}, target.pointer_size)
    text = f"{insn.mnemonic} {insn.op_str}".strip()
    return Instruction(address, insn.size, text, bytes(insn.bytes).hex(), accesses)


def _x86_accesses(insn: Any, regs: Mapping[str, int], ptr: int) -> Tuple[MemoryAccess, ...]:
    from capstone import CS_AC_READ, CS_AC_WRITE
    from capstone.x86 import X86_OP_MEM
    mask = (1 << (8 * ptr)) - 1
    out = []
    for op in insn.operands:
        if op.type != X86_OP_MEM:
            continue
        mem = op.mem
        address: Optional[int] = mem.disp
        parts = []
        if mem.segment and insn.reg_name(mem.segment) in ("fs", "gs"):
            address = None
            parts.append(insn.reg_name(mem.segment) + ":")
        for reg, scale in ((mem.base, 1), (mem.index, mem.scale)):
            if not reg:
                continue
            name = insn.reg_name(reg)
            parts.append(name if scale == 1 else f"{name}*{scale}")
            value = (insn.address + insn.size) if name in ("rip", "eip") else _reg(regs, name)
            if value is None or address is None:
                address = None
            else:
                address += value * scale
        expr = "+".join(p for p in parts if not p.endswith(":"))
        if mem.disp or not expr:
            expr += f"{'+' if expr and mem.disp >= 0 else ''}{mem.disp:#x}" if mem.disp >= 0 \
                else f"-{-mem.disp:#x}"
        seg = "".join(p for p in parts if p.endswith(":"))
        acc = op.access
        kind = ("read_write" if acc & CS_AC_READ and acc & CS_AC_WRITE
                else "write" if acc & CS_AC_WRITE else "read")
        if insn.mnemonic == "lea" or insn.mnemonic.startswith("nop"):
            continue                      # computes an address, touches no memory
        out.append(MemoryAccess(None if address is None else address & mask, op.size, kind,
                                f"{seg}[{expr}]"))
    return tuple(out)


_SUBREGS = {"e": "r"}


def _reg(regs: Mapping[str, int], name: str) -> Optional[int]:
    """A register's value; 32-bit names on x64 read the low half of the 64-bit register."""
    if name in regs:
        return regs[name]
    if len(name) == 3 and name[0] == "e" and ("r" + name[1:]) in regs:
        return regs["r" + name[1:]] & 0xFFFFFFFF
    if name.startswith("r") and name.endswith("d") and name[:-1] in regs:
        return regs[name[:-1]] & 0xFFFFFFFF
    return None


__all__ = ["Instruction", "MemoryAccess", "disassemble"]
