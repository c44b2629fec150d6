"""x64 exception-handling data: RUNTIME_FUNCTION (.pdata) and UNWIND_INFO / UNWIND_CODE (.xdata).

Layouts from Microsoft's "x64 exception handling" reference (learn.microsoft.com, cpp/build/
exception-handling-x64) and winnt.h. Bit fields are little-endian within their byte: the low bits
come first in C, so a ``BitStruct`` (which reads each byte from its most significant bit) lists
them high part first.

``UnwindCode`` is parsed as the C array of UNWIND_CODE slots; an operation that takes extra slots
(ALLOC_LARGE, SAVE_NONVOL, ...) stores a little-endian 16- or 32-bit operand in the following
slots, read back by ``slot_value``. Decoding slots into operations is the unwinder's job
(toolkit.unwind.amd64_unwind_info), not a layout's.
"""

from __future__ import annotations

from typing import Sequence

from construct import (
    Array, BitsInteger, BitStruct, Enum, FlagsEnum, If, Int32ul, Padding, Struct, this,
)

UNWIND_OP_CODES = dict(
    UWOP_PUSH_NONVOL=0,
    UWOP_ALLOC_LARGE=1,
    UWOP_ALLOC_SMALL=2,
    UWOP_SET_FPREG=3,
    UWOP_SAVE_NONVOL=4,
    UWOP_SAVE_NONVOL_FAR=5,
    UWOP_EPILOG=6,              # version 2; version 1 used 6 for the obsolete UWOP_SAVE_XMM
    UWOP_SPARE_CODE=7,          # version 1: UWOP_SAVE_XMM_FAR
    UWOP_SAVE_XMM128=8,
    UWOP_SAVE_XMM128_FAR=9,
    UWOP_PUSH_MACHFRAME=10,
)

# Operand registers of UNWIND_CODE.OpInfo and UNWIND_INFO.FrameRegister (CONTEXT order).
AMD64_REGISTERS = ("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                   "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")

RUNTIME_FUNCTION = Struct(
    "BeginAddress" / Int32ul,            # +0x00 RVA of the function's first byte
    "EndAddress" / Int32ul,              # +0x04 RVA one past its last byte
    "UnwindData" / Int32ul,              # +0x08 RVA of its UNWIND_INFO (UnwindInfoAddress)
)

UNWIND_CODE = BitStruct(
    "CodeOffset" / BitsInteger(8),       # +0x00 offset of the end of the prolog instruction
    "OpInfo" / BitsInteger(4),           # +0x01 high nibble
    "UnwindOp" / Enum(BitsInteger(4), **UNWIND_OP_CODES),  # +0x01 low nibble
)

UNWIND_INFO_HEADER = BitStruct(
    "Flags" / FlagsEnum(BitsInteger(5), UNW_FLAG_EHANDLER=1, UNW_FLAG_UHANDLER=2,
                        UNW_FLAG_CHAININFO=4),   # +0x00 bits 3..7
    "Version" / BitsInteger(3),                  # +0x00 bits 0..2
    "SizeOfProlog" / BitsInteger(8),             # +0x01
    "CountOfCodes" / BitsInteger(8),             # +0x02 slots, not operations
    "FrameOffset" / BitsInteger(4),              # +0x03 bits 4..7, scaled by 16
    "FrameRegister" / BitsInteger(4),            # +0x03 bits 0..3, 0 = no frame register
)

UNWIND_INFO = Struct(
    "Header" / UNWIND_INFO_HEADER,                                   # +0x00
    "UnwindCode" / Array(this.Header.CountOfCodes, UNWIND_CODE),     # +0x04
    Padding(2 * (this.Header.CountOfCodes % 2)),                     # keeps the tail DWORD-aligned
    "ChainedFunction" / If(this.Header.Flags.UNW_FLAG_CHAININFO, RUNTIME_FUNCTION),
    "ExceptionHandler" / If(
        (this.Header.Flags.UNW_FLAG_EHANDLER | this.Header.Flags.UNW_FLAG_UHANDLER)
        & (this.Header.Flags.UNW_FLAG_CHAININFO == False),  # noqa: E712 (a construct expression)
        Int32ul),   # RVA of the language handler; its data follows and is not described here
)


def slot_value(codes: Sequence, index: int, slots: int) -> int:
    """The little-endian operand stored in ``slots`` UNWIND_CODE slots starting at ``index``."""
    value = 0
    for k in range(slots):
        code = codes[index + k]
        low = code.CodeOffset
        high = (code.OpInfo << 4) | int(code.UnwindOp)
        value |= (low | (high << 8)) << (16 * k)
    return value


def unwind_info_size(count_of_codes: int, flags: int) -> int:
    """Bytes of an UNWIND_INFO up to and including its chained entry or handler RVA."""
    size = 4 + 2 * (count_of_codes + (count_of_codes & 1))
    if flags & 4:
        size += RUNTIME_FUNCTION.sizeof()
    elif flags & 3:
        size += 4
    return size


__all__ = ["RUNTIME_FUNCTION", "UNWIND_CODE", "UNWIND_INFO_HEADER", "UNWIND_INFO",
           "UNWIND_OP_CODES", "AMD64_REGISTERS", "slot_value", "unwind_info_size"]
