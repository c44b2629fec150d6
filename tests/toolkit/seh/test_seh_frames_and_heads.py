"""CRT scope tables (EH3/EH4), the heuristic chain search, WOW64 heads and judge_handler."""

from __future__ import annotations

import struct

import pytest

from parsers.context import AMD64_CONTEXT
from parsers.minidump_modules import MINIDUMP_MODULE
from parsers.minidump_threads import MINIDUMP_THREAD
from tests.toolkit.minidump_builder import build_minidump, minidump_string, system_info
from tests.toolkit.seh.sehdump import EMPTY_VERSION, SehScene
from tests.toolkit.seh.wine_dump import wine_full_dump
from toolkit.targets.minidump.target import MinidumpTarget
from toolkit.targets.open import open_target
from toolkit.seh import exchain, judge_handler
from toolkit.seh.chain import find_nt_tib, walk_chain
from toolkit.seh.names import Namer
from toolkit.seh.scopetable import frame_kind, read_scope

COOKIE = 0xBB40E64E


@pytest.fixture(scope="module")
def real():
    target = open_target(wine_full_dump())
    tib, _ = find_nt_tib(target, target.threads()[0])
    exe = next(m for m in target.modules() if m.name.endswith(".exe"))
    from toolkit.targets.pe.image import PeImage
    cookie_va = PeImage.from_target(target, exe).load_config.get("SecurityCookie")
    return dict(target=target, tib=tib, exe=exe, cookie_va=cookie_va,
                R=[r.address for r in walk_chain(target, tib.exception_list).records])


@pytest.mark.parametrize("symbol, kind", [("_except_handler3", "eh3"), ("__except_handler4", "eh4"),
                                          ("_except_handler4_common(x)", "eh4"), ("seh_h1", None),
                                          (None, None)])
def test_crt_frames_are_recognised_by_handler_name(symbol, kind):
    assert frame_kind(symbol) == kind


def eh4_scene(real):
    s = SehScene.from_target(real["target"], whole=[real["exe"].name])
    exe, frame = real["exe"].base, real["R"][2]
    table = real["R"][1] - 0x200
    s.write32(real["cookie_va"], COOKIE)
    s.write32(table, 0xFFFFFFFE, 0, 0xFFFFFFE4, 0)                   # GS/EH cookie offsets
    s.write32(table + 16, 0xFFFFFFFE, exe + 0x1100, exe + 0x10E5)     # level 0: __except
    s.write32(table + 28, 0, 0, exe + 0x1130)                         # level 1: __finally
    s.write32(frame + 8, table ^ COOKIE, 1)                           # ScopeTable, TryLevel
    return s, table


def test_eh4_scope_table_pointer_is_decoded_with_the_security_cookie(real):
    s, table = eh4_scene(real)
    target = MinidumpTarget(s.build())
    info = read_scope(target, real["R"][2], "eh4", real["cookie_va"], Namer(target))
    exe = real["exe"].base
    assert info.security_cookie == COOKIE and info.scope_table == table
    assert [(e.level, e.filter, e.handler) for e in info.entries] == \
        [(1, None, exe + 0x1130), (0, exe + 0x1100, exe + 0x10E5)]
    assert info.entries[0].handler_name == "crash-i686-nocrt+0x1130"


def test_eh4_without_the_cookie_page_says_it_cannot_decode(real):
    s, _ = eh4_scene(real)
    s.drop_page(real["cookie_va"])
    target = MinidumpTarget(s.build())
    info = read_scope(target, real["R"][2], "eh4", real["cookie_va"], Namer(target))
    assert info.entries == () and info.scope_table is None
    assert f"__security_cookie at {real['cookie_va']:08x} is not in the dump" in info.note


def test_eh3_scope_entries_follow_enclosing_levels(real):
    s = SehScene.from_target(real["target"], whole=[real["exe"].name])
    table, exe = real["R"][1] - 0x200, real["exe"].base
    s.write32(table, 0xFFFFFFFF, exe + 0x1100, exe + 0x10E5, 0, exe + 0x1110, exe + 0x1120)
    s.write32(real["R"][2] + 8, table, 1)
    target = MinidumpTarget(s.build())
    info = read_scope(target, real["R"][2], "eh3", None, Namer(target))
    assert [e.level for e in info.entries] == [1, 0] and info.note is None


def test_without_teb_memory_the_heuristic_finds_the_real_chain_and_labels_it(real):
    s = SehScene.from_target(real["target"], whole=[real["exe"].name])
    s.drop_page(s.teb)
    target = MinidumpTarget(s.build())
    (unknown,) = exchain(target).chains
    assert unknown.termination == "head-unknown" and unknown.records == ()
    assert "is not in the dump" in unknown.note
    (found,) = exchain(target, heuristic=True).chains
    assert found.source == "heuristic" and found.heuristic
    assert [r.address for r in found.records] == real["R"]
    assert all(r.heuristic for r in found.records)
    assert "HEURISTIC" in found.note


def test_judge_handler_answers_for_one_record_with_its_threads_stack_bounds(real):
    target = real["target"]
    good = judge_handler(target, real["R"][3], real["exe"].base + 0x1000)
    assert good.status == "valid" and good.next == real["R"][4]
    bad = judge_handler(target, real["R"][3], real["exe"].base + 0x1020, policy="2003")
    assert bad.failing == ("SAFESEH_LISTED",)
    on_stack = judge_handler(target, real["R"][3], real["tib"].stack_base - 0x100)
    assert "HANDLER_NOT_ON_STACK" in on_stack.failing


# ---- WOW64: the 32-bit TEB of an x64 dump's thread ---------------------------------------------
TEB64, STACK32 = 0x7EFDB000, 0x0018F000


def wow64_seh_dump() -> bytes:
    teb = bytearray(0x3000)
    struct.pack_into("<Q", teb, 0x30, TEB64)
    struct.pack_into("<IIII", teb, 0x2000, STACK32 + 0xF00, STACK32 + 0x1000, STACK32, 0)
    struct.pack_into("<I", teb, 0x2000 + 0x18, TEB64 + 0x2000)       # TEB32 NtTib.Self
    stack = bytearray(0x1000)
    struct.pack_into("<II", stack, 0xF00, STACK32 + 0xF80, 0x00401000)
    struct.pack_into("<II", stack, 0xF80, 0xFFFFFFFF, 0x77001000)

    def memory(rva):
        at = rva + 4 + 32
        return (struct.pack("<I", 2) + struct.pack("<QII", TEB64, len(teb), at)
                + struct.pack("<QII", STACK32, len(stack), at + len(teb)) + bytes(teb) + stack)

    def threads(rva):
        ctx = bytearray(AMD64_CONTEXT.sizeof())
        struct.pack_into("<I", ctx, 0x30, 0x10003F)
        return struct.pack("<I", 1) + MINIDUMP_THREAD.build(dict(
            ThreadId=0x1F0, SuspendCount=0, PriorityClass=0x20, Priority=0, Teb=TEB64,
            Stack=dict(StartOfMemoryRange=0, Memory=dict(DataSize=0, Rva=0)),
            ThreadContext=dict(DataSize=len(ctx), Rva=rva + 4 + 48))) + bytes(ctx)

    def modules(rva):
        mods = [(0x00400000, 0x6000, "C:\\app\\app.exe"),
                (0x77000000, 0x100000, "C:\\Windows\\SysWOW64\\ntdll.dll"),
                (0x77C40000, 0x8000, "C:\\Windows\\System32\\wow64cpu.dll")]
        names = [minidump_string(p) for _, _, p in mods]
        at = rva + 4 + len(mods) * MINIDUMP_MODULE.sizeof()
        out = struct.pack("<I", len(mods))
        for (base, size, _), name in zip(mods, names):
            out += MINIDUMP_MODULE.build(dict(
                BaseOfImage=base, SizeOfImage=size, CheckSum=0, TimeDateStamp=0,
                ModuleNameRva=at, VersionInfo=EMPTY_VERSION, CvRecord=dict(DataSize=0, Rva=0),
                MiscRecord=dict(DataSize=0, Rva=0), Reserved0=0, Reserved1=0))
            at += len(name)
        return out + b"".join(names)

    return build_minidump([(7, system_info()), (3, threads), (4, modules), (5, memory)])


def test_wow64_thread_chain_starts_at_the_32_bit_teb():
    (chain,) = exchain(MinidumpTarget(wow64_seh_dump())).chains
    assert chain.source == "wow64_teb" and chain.tib_address == TEB64 + 0x2000
    assert [(r.address, r.handler) for r in chain.records] == \
        [(STACK32 + 0xF00, 0x00401000), (STACK32 + 0xF80, 0x77001000)]
    assert chain.termination == "end" and chain.failing == ()
    assert chain.records[0].verdict("SAFESEH_LISTED").outcome.value == "unverifiable"
