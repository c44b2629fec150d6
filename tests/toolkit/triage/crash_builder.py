"""Small AMD64 crash minidumps built from our construct layouts, for analyze cases no corpus
dump has: a C++ throw with its ThrowInfo in memory, non-canonical and non-executable faults,
MemoryInfoList protections.
"""

from __future__ import annotations

import struct
from typing import Dict, List, Sequence, Tuple

import numpy as np

from parsers.context import AMD64_CONTEXT, CONTEXT_X86
from parsers.minidump_memory import (MINIDUMP_MEMORY_DESCRIPTOR_DTYPE, MINIDUMP_MEMORY_INFO_DTYPE,
                                     build_memory_info_list, build_memory_list)
from parsers.minidump_threads import MINIDUMP_EXCEPTION_STREAM, MINIDUMP_THREAD
from tests.toolkit.minidump_builder import build_minidump, system_info

TID = 0x1234
_GPR = ("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
        "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")
MEM_COMMIT, MEM_FREE, MEM_PRIVATE = 0x1000, 0x10000, 0x20000
PAGE_READWRITE, PAGE_EXECUTE_READ = 0x04, 0x20


def amd64_context(regs: Dict[str, int]) -> bytes:
    raw = bytearray(AMD64_CONTEXT.sizeof())
    struct.pack_into("<I", raw, 0x30, 0x10003F)
    for i, name in enumerate(_GPR):
        struct.pack_into("<Q", raw, 0x78 + 8 * i, regs.get(name, 0))
    struct.pack_into("<Q", raw, 0xF8, regs.get("rip", 0))
    return bytes(raw)


def x86_context(regs: Dict[str, int]) -> bytes:
    raw = bytearray(CONTEXT_X86.sizeof())
    struct.pack_into("<I", raw, 0, 0x1003F)
    struct.pack_into("<III", raw, 0xB4, regs.get("ebp", 0), regs.get("eip", 0), 0x23)
    struct.pack_into("<I", raw, 0xC4, regs.get("esp", 0))
    return bytes(raw)


def crash_dump(code: int, params: Sequence[int], regs: Dict[str, int],
               memory: Sequence[Tuple[int, bytes]] = (),
               memory_info: Sequence[Tuple[int, int, int, int]] = (), x86: bool = False) -> bytes:
    """A one-thread AMD64 (or x86) dump raising ``code`` at ``regs['rip']`` (``eip``);
    ``memory`` = (address, bytes) ranges; ``memory_info`` = (base, size, state, protect) rows."""
    ctx = x86_context(regs) if x86 else amd64_context(regs)
    ip = regs.get("eip" if x86 else "rip", 0)

    def threads(rva: int) -> bytes:
        return struct.pack("<I", 1) + MINIDUMP_THREAD.build(dict(
            ThreadId=TID, SuspendCount=0, PriorityClass=0x20, Priority=0, Teb=0,
            Stack=dict(StartOfMemoryRange=0, Memory=dict(DataSize=0, Rva=0)),
            ThreadContext=dict(DataSize=len(ctx), Rva=rva + 4 + 48))) + ctx

    def exception(rva: int) -> bytes:
        info = list(params) + [0] * (15 - len(params))
        head = MINIDUMP_EXCEPTION_STREAM.build(dict(
            ThreadId=TID, __alignment=0, ExceptionRecord=dict(
                ExceptionCode=code, ExceptionFlags=0, ExceptionRecord=0,
                ExceptionAddress=ip, NumberParameters=len(params),
                __unusedAlignment=0, ExceptionInformation=info),
            ThreadContext=dict(DataSize=len(ctx), Rva=0)))
        ctx_rva = rva + len(head)
        head = head[:-4] + struct.pack("<I", ctx_rva)
        return head + ctx

    def memory_list(rva: int) -> bytes:
        table = np.zeros(len(memory), MINIDUMP_MEMORY_DESCRIPTOR_DTYPE)
        at = rva + 4 + 16 * len(memory)
        blobs: List[bytes] = []
        for i, (address, data) in enumerate(memory):
            table[i] = (address, len(data), at)
            at += len(data)
            blobs.append(data)
        return build_memory_list(table) + b"".join(blobs)

    def info_list(rva: int) -> bytes:
        table = np.zeros(len(memory_info), MINIDUMP_MEMORY_INFO_DTYPE)
        for i, (base, size, state, protect) in enumerate(memory_info):
            table[i]["BaseAddress"], table[i]["AllocationBase"] = base, base
            table[i]["RegionSize"], table[i]["State"] = size, state
            table[i]["Protect"], table[i]["AllocationProtect"] = protect, protect
            table[i]["Type"] = MEM_PRIVATE if state != MEM_FREE else 0
        return build_memory_info_list(table)

    arch = "PROCESSOR_ARCHITECTURE_INTEL" if x86 else "PROCESSOR_ARCHITECTURE_AMD64"
    streams = [(7, system_info(arch)), (3, threads), (6, exception), (5, memory_list)]
    if memory_info:
        streams.append((16, info_list))
    return build_minidump(streams)
