"""Recognise and emulate an x64 epilog at the instruction pointer (RtlVirtualUnwind's epilog test).

The x64 calling standard restricts epilogs to a fixed shape so an unwinder can recognise them
from the code bytes alone ("x64 prolog and epilog", learn.microsoft.com)::

    [add rsp, imm8|imm32  |  lea rsp, [framereg + disp8|disp32]]   at most one
    pop r64 ...                                                    non-volatiles, any number
    ret | rep ret | jmp rel8/rel32 outside the function | jmp [mem] (REX.W FF /4, FF 25)

When RIP sits anywhere in such a sequence, the prolog's unwind codes no longer describe the
stack (part of it is already undone), so the rest of the sequence is executed on the register
set instead. Only the encodings above are accepted; anything else means "not in an epilog".
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Tuple

from parsers.unwind_amd64 import AMD64_REGISTERS
from toolkit.model.errors import UnreadableMemory
from toolkit.unwind.amd64_unwind_info import RuntimeFunction, UnwindInfo

MASK64 = (1 << 64) - 1
MAX_EPILOG_BYTES = 64          # add/lea (7) + 16 pops (2 each) + terminator (7), with slack


def _is_rex(byte: int) -> bool:
    return 0x40 <= byte <= 0x4F


def _read_code(read_code, address: int) -> bytes:
    """As many code bytes at ``address`` as readable, up to MAX_EPILOG_BYTES."""
    for size in (MAX_EPILOG_BYTES, 16, 8, 4, 2, 1):
        try:
            raw = read_code(address, size)
        except UnreadableMemory:
            continue
        if raw:
            return bytes(raw)
    return b""


def parse_epilog(code: bytes, rip_rva: int, entry: RuntimeFunction,
                 info: UnwindInfo) -> Optional[Tuple[Optional[Tuple[str, int]], List[str]]]:
    """Match ``code`` (the bytes at RIP) against the epilog shape.

    Returns ``(adjust, pops)`` where ``adjust`` is ``("add", imm)`` or ``("lea", disp)`` or
    None, and ``pops`` lists the popped registers in order; None when this is not an epilog.
    """
    i = 0
    adjust: Optional[Tuple[str, int]] = None
    b = code + b"\0" * 8
    if (b[0] & 0xF8) == 0x48 and b[1] == 0x83 and b[2] == 0xC4:          # add rsp, imm8
        adjust, i = ("add", int.from_bytes(b[3:4], "little", signed=True)), 4
    elif (b[0] & 0xF8) == 0x48 and b[1] == 0x81 and b[2] == 0xC4:        # add rsp, imm32
        adjust, i = ("add", int.from_bytes(b[3:7], "little", signed=True)), 7
    elif (b[0] & 0xFE) == 0x48 and b[1] == 0x8D and (b[2] & 0x38) == 0x20:  # lea rsp, [r+d]
        mod, rm = b[2] >> 6, (b[2] & 7) | ((b[0] & 1) << 3)
        if info.frame_register is None or AMD64_REGISTERS[rm] != info.frame_register:
            return None
        j = 3
        if (b[2] & 7) == 4:            # r12 as base needs a SIB byte (base r12, no index)
            if b[3] != 0x24:
                return None
            j = 4
        if mod == 1:
            adjust, i = ("lea", int.from_bytes(b[j:j + 1], "little", signed=True)), j + 1
        elif mod == 2:
            adjust, i = ("lea", int.from_bytes(b[j:j + 4], "little", signed=True)), j + 4
        else:
            return None
    pops: List[str] = []
    while i < len(code):
        if (b[i] & 0xF8) == 0x58:
            pops.append(AMD64_REGISTERS[b[i] & 7])
            i += 1
        elif _is_rex(b[i]) and (b[i + 1] & 0xF8) == 0x58:
            pops.append(AMD64_REGISTERS[(b[i + 1] & 7) | ((b[i] & 1) << 3)])
            i += 2
        else:
            break
    if i >= len(code):
        return None
    if _is_terminator(b, i, rip_rva + i, entry):
        return adjust, pops
    return None


def _is_terminator(b: bytes, i: int, rva: int, entry: RuntimeFunction) -> bool:
    if b[i] == 0xC3 or (b[i] == 0xF3 and b[i + 1] == 0xC3):                # ret, rep ret
        return True
    if b[i] in (0xE9, 0xEB):                                                # jmp rel
        size = 5 if b[i] == 0xE9 else 2
        disp = int.from_bytes(b[i + 1:i + size], "little", signed=True)
        target = rva + size + disp
        return not (entry.begin < target < entry.end)   # out of the function, or to its start
    if b[i] == 0xFF and b[i + 1] == 0x25:                                   # jmp [rip+disp32]
        return True
    if (b[i] & 0xF8) == 0x48 and b[i + 1] == 0xFF and (b[i + 2] & 0x38) == 0x20:  # rex.w jmp r/m
        return True
    return False


def emulate_epilog(regs: Mapping[str, int], read, read_code, image_base: int,
                   entry: RuntimeFunction, info: UnwindInfo
                   ) -> Optional[Tuple[Dict[str, int], Tuple[str, ...]]]:
    """The caller's registers when RIP is inside an epilog, else None."""
    rip = regs["rip"]
    code = _read_code(read_code, rip)
    if not code:
        return None
    shape = parse_epilog(code, rip - image_base, entry, info)
    if shape is None:
        return None
    adjust, pops = shape
    out = dict(regs)
    if adjust is not None:
        kind, value = adjust
        base = out["rsp"] if kind == "add" else out[info.frame_register]  # type: ignore[index]
        out["rsp"] = (base + value) & MASK64
    for name in pops:
        out[name] = _u64(read, out["rsp"])
        out["rsp"] = (out["rsp"] + 8) & MASK64
    out["rip"] = _u64(read, out["rsp"])
    out["rsp"] = (out["rsp"] + 8) & MASK64
    return out, tuple(pops)


def _u64(read, address: int) -> int:
    raw = read(address, 8)
    if len(raw) != 8:
        raise UnreadableMemory(address, 8)
    return int.from_bytes(raw, "little")


__all__ = ["parse_epilog", "emulate_epilog"]
