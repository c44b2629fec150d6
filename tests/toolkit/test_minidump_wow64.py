"""WOW64 threads of an x64 dump get their TEB32 and 32-bit context from memory (TEB64 + 0x2000;
TEB64.TlsSlots[1] -> WOW64_CPURESERVED -> CONTEXT32 at +4). No WOW64 dump is in this corpus
copy, so the dump is built with our layouts; the offsets are documented in
toolkit/targets/minidump/wow64.py and docs/minidump-notes.md."""

from __future__ import annotations

import struct

from parsers.context import AMD64_CONTEXT, CONTEXT_X86
from parsers.minidump_modules import MINIDUMP_MODULE
from parsers.minidump_threads import MINIDUMP_THREAD
from toolkit.targets.minidump.target import MinidumpTarget
from toolkit.model.target import Arch
from tests.toolkit.minidump_builder import build_minidump, minidump_string, system_info

TEB64, RESERVED = 0x7EFDB000, 0x0008E000


def amd64_context() -> bytes:
    raw = bytearray(AMD64_CONTEXT.sizeof())
    struct.pack_into("<I", raw, 0x30, 0x10003F)
    struct.pack_into("<Q", raw, 0x98, 0x8FE00)            # Rsp
    struct.pack_into("<Q", raw, 0xF8, 0x77C41234)         # Rip in wow64cpu
    return bytes(raw)


def x86_context() -> bytes:
    raw = bytearray(CONTEXT_X86.sizeof())
    struct.pack_into("<I", raw, 0, 0x1003F)
    struct.pack_into("<III", raw, 0xB4, 0x18FF40, 0x401234, 0x23)   # Ebp, Eip, SegCs
    struct.pack_into("<I", raw, 0xC4, 0x18FF00)                      # Esp
    return bytes(raw)


def wow64_dump(with_context: bool = True) -> bytes:
    teb = bytearray(0x3000)
    struct.pack_into("<Q", teb, 0x30, TEB64)                          # NtTib.Self
    struct.pack_into("<Q", teb, 0x1480 + 8, RESERVED if with_context else 0)
    struct.pack_into("<I", teb, 0x2000 + 0x18, TEB64 + 0x2000)        # TEB32 NtTib.Self
    reserved = struct.pack("<HH", 0, 0x14C) + x86_context()

    def memory(rva: int) -> bytes:
        data_at = rva + 4 + 2 * 16
        return (struct.pack("<I", 2)
                + struct.pack("<QII", TEB64, len(teb), data_at)
                + struct.pack("<QII", RESERVED, len(reserved), data_at + len(teb))
                + bytes(teb) + reserved)

    def threads(rva: int) -> bytes:
        ctx = amd64_context()
        return struct.pack("<I", 1) + MINIDUMP_THREAD.build(dict(
            ThreadId=0x1F0, SuspendCount=1, PriorityClass=0x20, Priority=0, Teb=TEB64,
            Stack=dict(StartOfMemoryRange=0, Memory=dict(DataSize=0, Rva=0)),
            ThreadContext=dict(DataSize=len(ctx), Rva=rva + 4 + 48))) + ctx

    def modules(rva: int) -> bytes:
        name = minidump_string("C:\\Windows\\System32\\wow64cpu.dll")
        entry = MINIDUMP_MODULE.build(dict(
            BaseOfImage=0x77C40000, SizeOfImage=0x8000, CheckSum=0, TimeDateStamp=0,
            ModuleNameRva=rva + 4 + 108, VersionInfo=dict(
                dwSignature=0, dwStrucVersion=0, dwFileVersionMS=0, dwFileVersionLS=0,
                dwProductVersionMS=0, dwProductVersionLS=0, dwFileFlagsMask=0, dwFileFlags={},
                dwFileOS=0, dwFileType=0, dwFileSubtype=0, dwFileDateMS=0, dwFileDateLS=0),
            CvRecord=dict(DataSize=0, Rva=0), MiscRecord=dict(DataSize=0, Rva=0),
            Reserved0=0, Reserved1=0))
        return struct.pack("<I", 1) + entry + name

    return build_minidump([(7, system_info()), (3, threads), (4, modules), (5, memory)])


def test_wow64_thread_has_teb32_and_x86_registers():
    t = MinidumpTarget(wow64_dump())
    assert t.is_wow64()
    (thread,) = t.threads()
    assert thread.registers.arch is Arch.AMD64 and thread.registers.ip == 0x77C41234
    assert thread.wow64_teb == TEB64 + 0x2000
    regs = thread.wow64_registers
    assert regs.arch is Arch.X86 and (regs.ip, regs.sp, regs.fp) == (0x401234, 0x18FF00, 0x18FF40)


def test_wow64_thread_without_saved_context_keeps_its_teb32_only():
    (thread,) = MinidumpTarget(wow64_dump(with_context=False)).threads()
    assert thread.wow64_teb == TEB64 + 0x2000 and thread.wow64_registers is None


def test_native_x64_dump_is_not_wow64():
    from tests.conftest import corpus_path
    with MinidumpTarget(corpus_path("breakpad/processor/tiny-exe-fastfail.dmp")) as t:
        assert not t.is_wow64()
        assert all(th.wow64_teb is None for th in t.threads())
