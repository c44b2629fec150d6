"""CPU context records (winnt.h): x86 CONTEXT, AMD64 CONTEXT, ARM64_NT_CONTEXT.

A minidump stores one per thread (ThreadContext) and one for the exception. Writers that save
extended state (MiniDumpWithAvxXStateContext, CET shadow stacks) append an XSAVE area after the
fixed record, so a reader decodes the fixed prefix and ignores the rest.

``registers_of`` turns a parsed record into lower-case WinDbg register names.
"""

from __future__ import annotations

import struct
from typing import Dict, Optional

from construct import Array, Bytes, Container, Int8ul, Int16ul, Int32ul, Int64ul, Struct

CONTEXT_i386 = 0x00010000
CONTEXT_AMD64 = 0x00100000
CONTEXT_ARM = 0x00200000
CONTEXT_ARM64 = 0x00400000

M128A = Struct("Low" / Int64ul, "High" / Int64ul)

FLOATING_SAVE_AREA = Struct(
    "ControlWord" / Int32ul,                  # +0x00
    "StatusWord" / Int32ul,                   # +0x04
    "TagWord" / Int32ul,                      # +0x08
    "ErrorOffset" / Int32ul,                  # +0x0C
    "ErrorSelector" / Int32ul,                # +0x10
    "DataOffset" / Int32ul,                   # +0x14
    "DataSelector" / Int32ul,                 # +0x18
    "RegisterArea" / Bytes(80),               # +0x1C 8 x 80-bit st(i)
    "Cr0NpxState" / Int32ul,                  # +0x6C
)
assert FLOATING_SAVE_AREA.sizeof() == 112

CONTEXT_X86 = Struct(
    "ContextFlags" / Int32ul,                 # +0x00
    "Dr0" / Int32ul, "Dr1" / Int32ul, "Dr2" / Int32ul, "Dr3" / Int32ul,  # +0x04
    "Dr6" / Int32ul, "Dr7" / Int32ul,         # +0x14
    "FloatSave" / FLOATING_SAVE_AREA,         # +0x1C
    "SegGs" / Int32ul,                        # +0x8C
    "SegFs" / Int32ul,                        # +0x90
    "SegEs" / Int32ul,                        # +0x94
    "SegDs" / Int32ul,                        # +0x98
    "Edi" / Int32ul,                          # +0x9C
    "Esi" / Int32ul,                          # +0xA0
    "Ebx" / Int32ul,                          # +0xA4
    "Edx" / Int32ul,                          # +0xA8
    "Ecx" / Int32ul,                          # +0xAC
    "Eax" / Int32ul,                          # +0xB0
    "Ebp" / Int32ul,                          # +0xB4
    "Eip" / Int32ul,                          # +0xB8
    "SegCs" / Int32ul,                        # +0xBC
    "EFlags" / Int32ul,                       # +0xC0
    "Esp" / Int32ul,                          # +0xC4
    "SegSs" / Int32ul,                        # +0xC8
    "ExtendedRegisters" / Bytes(512),         # +0xCC FXSAVE image
)
assert CONTEXT_X86.sizeof() == 716

XMM_SAVE_AREA32 = Struct(
    "ControlWord" / Int16ul,                  # +0x00
    "StatusWord" / Int16ul,                   # +0x02
    "TagWord" / Int8ul,                       # +0x04
    "Reserved1" / Int8ul,                     # +0x05
    "ErrorOpcode" / Int16ul,                  # +0x06
    "ErrorOffset" / Int32ul,                  # +0x08
    "ErrorSelector" / Int16ul,                # +0x0C
    "Reserved2" / Int16ul,                    # +0x0E
    "DataOffset" / Int32ul,                   # +0x10
    "DataSelector" / Int16ul,                 # +0x14
    "Reserved3" / Int16ul,                    # +0x16
    "MxCsr" / Int32ul,                        # +0x18
    "MxCsr_Mask" / Int32ul,                   # +0x1C
    "FloatRegisters" / Array(8, M128A),       # +0x20
    "XmmRegisters" / Array(16, M128A),        # +0xA0
    "Reserved4" / Bytes(96),                  # +0x1A0
)
assert XMM_SAVE_AREA32.sizeof() == 512

_GPR64 = ("Rax", "Rcx", "Rdx", "Rbx", "Rsp", "Rbp", "Rsi", "Rdi",
          "R8", "R9", "R10", "R11", "R12", "R13", "R14", "R15")

AMD64_CONTEXT = Struct(  # winnt.h CONTEXT for _AMD64_ (dbgeng calls it AMD64_CONTEXT)
    "P1Home" / Int64ul, "P2Home" / Int64ul, "P3Home" / Int64ul,  # +0x00
    "P4Home" / Int64ul, "P5Home" / Int64ul, "P6Home" / Int64ul,  # +0x18
    "ContextFlags" / Int32ul,                 # +0x30
    "MxCsr" / Int32ul,                        # +0x34
    "SegCs" / Int16ul,                        # +0x38
    "SegDs" / Int16ul,                        # +0x3A
    "SegEs" / Int16ul,                        # +0x3C
    "SegFs" / Int16ul,                        # +0x3E
    "SegGs" / Int16ul,                        # +0x40
    "SegSs" / Int16ul,                        # +0x42
    "EFlags" / Int32ul,                       # +0x44
    "Dr0" / Int64ul, "Dr1" / Int64ul, "Dr2" / Int64ul, "Dr3" / Int64ul,  # +0x48
    "Dr6" / Int64ul, "Dr7" / Int64ul,         # +0x68
    *[name / Int64ul for name in _GPR64],     # +0x78 .. +0xF0
    "Rip" / Int64ul,                          # +0xF8
    "FltSave" / XMM_SAVE_AREA32,              # +0x100
    "VectorRegister" / Array(26, M128A),      # +0x300
    "VectorControl" / Int64ul,                # +0x4A0
    "DebugControl" / Int64ul,                 # +0x4A8
    "LastBranchToRip" / Int64ul,              # +0x4B0
    "LastBranchFromRip" / Int64ul,            # +0x4B8
    "LastExceptionToRip" / Int64ul,           # +0x4C0
    "LastExceptionFromRip" / Int64ul,         # +0x4C8
)
assert AMD64_CONTEXT.sizeof() == 1232

ARM64_NT_NEON128 = Struct("Low" / Int64ul, "High" / Int64ul)

ARM64_NT_CONTEXT = Struct(
    "ContextFlags" / Int32ul,                 # +0x000
    "Cpsr" / Int32ul,                         # +0x004
    "X" / Array(29, Int64ul),                 # +0x008 X0..X28
    "Fp" / Int64ul,                           # +0x0F0 X29
    "Lr" / Int64ul,                           # +0x0F8 X30
    "Sp" / Int64ul,                           # +0x100
    "Pc" / Int64ul,                           # +0x108
    "V" / Array(32, ARM64_NT_NEON128),        # +0x110
    "Fpcr" / Int32ul,                         # +0x310
    "Fpsr" / Int32ul,                         # +0x314
    "Bcr" / Array(8, Int32ul),                # +0x318
    "Bvr" / Array(8, Int64ul),                # +0x338
    "Wcr" / Array(2, Int32ul),                # +0x378
    "Wvr" / Array(2, Int64ul),                # +0x380
)
assert ARM64_NT_CONTEXT.sizeof() == 0x390

CONTEXT_LAYOUTS = {"x86": CONTEXT_X86, "amd64": AMD64_CONTEXT, "arm64": ARM64_NT_CONTEXT}
CONTEXT_SIZES = {name: layout.sizeof() for name, layout in CONTEXT_LAYOUTS.items()}


def context_kind(arch: str, size: int, first_words: bytes) -> Optional[str]:
    """Which layout a context record of ``size`` bytes uses, given the dump's arch.

    The arch decides, except that an x86 record (716 bytes, CONTEXT_i386 in ContextFlags) inside
    an AMD64 dump stays x86 — some writers store WOW64 contexts that way. Returns None when the
    record is shorter than any layout that could apply.
    """
    flags_x86 = int.from_bytes(first_words[0:4], "little") if len(first_words) >= 4 else 0
    if arch == "amd64":
        if size >= CONTEXT_SIZES["amd64"]:
            return "amd64"
        if size >= CONTEXT_SIZES["x86"] and flags_x86 & CONTEXT_i386:
            return "x86"
        return None
    if arch in CONTEXT_SIZES:
        return arch if size >= CONTEXT_SIZES[arch] else None
    return None


def registers_of(kind: str, ctx: Container) -> Dict[str, int]:
    """WinDbg register names (``eip``, ``rsp``, ``x0``, ``fp``) -> values for a parsed context."""
    c = ctx
    if kind == "x86":
        names = ("eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp", "eip")
        out = {n: getattr(c, n.capitalize()) for n in names}
        out.update(efl=c.EFlags, cs=c.SegCs, ss=c.SegSs, ds=c.SegDs, es=c.SegEs, fs=c.SegFs,
                   gs=c.SegGs)
        return out
    if kind == "amd64":
        out = {n.lower(): getattr(c, n) for n in _GPR64}
        out.update(rip=c.Rip, efl=c.EFlags, cs=c.SegCs, ss=c.SegSs, ds=c.SegDs, es=c.SegEs,
                   fs=c.SegFs, gs=c.SegGs, mxcsr=c.MxCsr)
        return out
    if kind == "arm64":
        out = {f"x{i}": v for i, v in enumerate(c.X)}
        out.update(fp=c.Fp, lr=c.Lr, sp=c.Sp, pc=c.Pc, cpsr=c.Cpsr, fpcr=c.Fpcr, fpsr=c.Fpsr)
        return out
    raise ValueError(f"unknown context kind {kind!r}")


# ---- the same registers through precompiled struct formats -----------------------------------
# A walk decodes one context per thread; construct takes ~0.8 ms for one, struct ~2 us. The
# construct layouts above stay the specification (and what tests build malformed records with);
# tests/parsers/test_context_struct.py holds these offsets to them on every corpus context.

_X86_GPRS = struct.Struct("<16I")            # +0x8C SegGs .. SegSs
_AMD64_REGS = struct.Struct("<I6HI6Q16QQ")   # +0x34 MxCsr, segments, EFlags, Dr*, GPRs, Rip
_ARM64_REGS = struct.Struct("<I33Q")         # +0x004 Cpsr, X0..X28, Fp, Lr, Sp, Pc
_ARM64_FP = struct.Struct("<II")             # +0x310 Fpcr, Fpsr
_X = tuple(f"x{i}" for i in range(29))


def registers_from_bytes(kind: str, data) -> Dict[str, int]:
    """``registers_of(kind, CONTEXT_LAYOUTS[kind].parse(data))`` without construct: the same
    names, values and key order. ``data`` holds at least ``CONTEXT_SIZES[kind]`` bytes."""
    if len(data) < CONTEXT_SIZES.get(kind, 0):
        raise ValueError(f"{len(data)} bytes is too short for a {kind} context")
    if kind == "x86":
        (gs, fs, es, ds, edi, esi, ebx, edx, ecx, eax, ebp, eip, cs, efl, esp,
         ss) = _X86_GPRS.unpack_from(data, 0x8C)
        return {"eax": eax, "ebx": ebx, "ecx": ecx, "edx": edx, "esi": esi, "edi": edi,
                "ebp": ebp, "esp": esp, "eip": eip, "efl": efl, "cs": cs, "ss": ss, "ds": ds,
                "es": es, "fs": fs, "gs": gs}
    if kind == "amd64":
        v = _AMD64_REGS.unpack_from(data, 0x34)
        mxcsr, cs, ds, es, fs, gs, ss, efl = v[:8]
        out = dict(zip(("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9",
                        "r10", "r11", "r12", "r13", "r14", "r15"), v[14:30]))
        out.update(rip=v[30], efl=efl, cs=cs, ss=ss, ds=ds, es=es, fs=fs, gs=gs, mxcsr=mxcsr)
        return out
    if kind == "arm64":
        v = _ARM64_REGS.unpack_from(data, 0x4)
        fpcr, fpsr = _ARM64_FP.unpack_from(data, 0x310)
        out = dict(zip(_X, v[1:30]))
        out.update(fp=v[30], lr=v[31], sp=v[32], pc=v[33], cpsr=v[0], fpcr=fpcr, fpsr=fpsr)
        return out
    raise ValueError(f"unknown context kind {kind!r}")


__all__ = [
    "registers_from_bytes",
    "CONTEXT_i386", "CONTEXT_AMD64", "CONTEXT_ARM", "CONTEXT_ARM64", "M128A",
    "FLOATING_SAVE_AREA", "CONTEXT_X86", "XMM_SAVE_AREA32", "AMD64_CONTEXT",
    "ARM64_NT_NEON128", "ARM64_NT_CONTEXT", "CONTEXT_LAYOUTS", "CONTEXT_SIZES",
    "context_kind", "registers_of",
]
