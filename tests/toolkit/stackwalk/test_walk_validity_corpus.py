"""Issue 11's walker rules on the real dumps the issue names, with one Breakpad symbol tree
(the corpus .sym files) as rust-minidump gets it in tests/test_peer_minidump_stackwalk.py."""

from __future__ import annotations

import pytest

from tests.conftest import corpus_path
from tests.triage_peers import breakpad_symbol_tree
from toolkit.stackwalk.context import WalkContext
from toolkit.stackwalk.walker import walk_target
from toolkit.targets.open import open_target
from toolkit.unwind.trust import Trust

pytest.importorskip("symbolic")


def walk(rel, tmp_path, tids=None):
    from toolkit.symbols.resolver import Resolver
    target = open_target(corpus_path(rel))
    resolver = Resolver.from_symbol_path(str(breakpad_symbol_tree()), cache_dir=tmp_path)
    return target, resolver, walk_target(target, resolver, tids=tids)


@pytest.mark.parametrize("rel", ["breakpad/processor/tiny-exe-fastfail.dmp",
                                 "rust-minidump/testdata/invalid-parameter.dmp",
                                 "wine/dumps/crash-x86_64-mingw-ext-normal-cv.dmp",
                                 "wine/dumps/deadlock-i686-nocrt-ext-normal-cv.dmp"])
def test_every_caller_frames_call_site_is_code_of_a_module_and_inside_a_known_function(
        rel, tmp_path):
    # these walks held ntdll+0x0, <exe>+0x0 and function entry points as return addresses
    target, resolver, report = walk(rel, tmp_path)
    ctx = WalkContext(target, resolver)
    callers = [f for t in report.threads for f in t.frames[1:]]
    assert callers
    for frame in callers:
        assert ctx.module_at(frame.ip - 1) is not None, hex(frame.ip)
        assert frame.offset != 1 or frame.symbol is None   # not "module+0x0" nor "fn+0x0"+1
        assert ctx.seems_valid_ip(frame.ip - 1), f"{frame.module}+{frame.ip:#x}"
        if frame.trust in (Trust.SCAN, Trust.SCAN_CALLSITE):
            assert ctx.has_function(frame.ip - 1) is not False


def test_x64_context_frame_without_unwind_info_returns_to_the_address_at_rsp(tmp_path):
    target, _, report = walk("electron-node-minidump/windows.dmp", tmp_path, tids=[0x17b4])
    frames = report.threads[0].frames
    exe = next(m for m in target.modules() if m.name.lower().endswith("electron.exe"))
    node = next(m for m in target.modules() if m.name.lower().endswith("node.dll"))
    assert frames[1].ip == exe.base + 0xc5ad9 and frames[1].sp == frames[0].sp + 8
    # rust-minidump's next three frames, which following RBP to node+0x95b441 skipped
    assert [f.ip for f in frames[2:5]] == [node.base + 0x2f4a7c, exe.base + 0xe97f8,
                                           node.base + 0x95b441]


def test_x86_mingw_main_returns_to_tmainCRTStartup_at_ebp_plus_4_with_the_pdb(tmp_path):
    # the PDB has no procedure for the CRT's __tmainCRTStartup; main's STACK WIN program
    # reads its return address at ebp+4, and a scan hit in ntdll used to replace it
    from toolkit.symbols.resolver import Resolver
    target = open_target(corpus_path("wine/dumps/crash-i686-mingw-ext-normal-cv.dmp"))
    resolver = Resolver.from_symbol_path(str(corpus_path("wine/bin")), cache_dir=tmp_path)
    stack = walk_target(target, resolver).threads[0]
    main = next(i for i, loc in enumerate(stack.locations) if loc.symbol == "main()")
    frame, caller = stack.frames[main], stack.frames[main + 1]
    assert caller.ip == int.from_bytes(target.read(frame.registers["ebp"] + 4, 4), "little")
    assert stack.locations[main + 1].module == "crash-i686-mingw.exe"
    assert caller.trust is Trust.CFI
    assert all(f.trust is not Trust.CFI_SCAN for f in stack.frames)


def test_dump_writer_thread_takes_no_stale_call_verified_copies_past_the_scan_window(tmp_path):
    # mini.dmp's dump writer: 0x580 bytes above KERNELBASE's frame lie four call-verified
    # copies of ntdll+0x6e5dc (dead stack); ntdll has no image or symbols here, so the long
    # scan takes a candidate only where a frame-pointer chain starts (dbgcore's frames)
    target, _, report = walk("symbolic/windows/mini.dmp", tmp_path, tids=[0xB68])
    stack = report.threads[0]
    ntdll = next(m for m in target.modules() if m.name.lower().endswith("ntdll.dll"))
    assert ntdll.base + 0x6E5DC not in [f.ip for f in stack.frames]
    assert [loc.module for loc in stack.locations[:3]] == ["ntdll.dll", "KERNELBASE.dll",
                                                          "dbgcore.dll"]
    # the frame-pointer and CFI frames down to ExceptionHandlerThreadMain survive
    assert [f.trust for f in stack.frames[3:10]] == [Trust.FRAME_POINTER] * 6 + [Trust.CFI]
    names = [loc.symbol or "" for loc in stack.locations]
    assert any(n.startswith("google_breakpad::ExceptionHandler::WriteMinidumpWithException")
               for n in names)
    thread_main = next(i for i, n in enumerate(names) if "ExceptionHandlerThreadMain" in n)
    assert stack.frames[thread_main].trust is Trust.CFI
    assert stack.frames[thread_main + 1].trust is Trust.CFI     # kernel32, by crash.exe's CFI


def test_stack_win_without_an_ebp_rule_recovers_ebp_from_the_saved_register_area(tmp_path):
    # ExceptionHandlerThreadMain's program saves EBP as CodeView register $22, not $ebp, so the
    # callee's EBP (0x664, a thread id) came through and kernel32's caller was a stale scan hit
    # (kernel32+0x162a0); Breakpad takes the first word of the saved-register area that points
    # into the stack, and BaseThreadInitThunk's frame record leads to the thread start
    target, _, report = walk("symbolic/windows/mini.dmp", tmp_path, tids=[0xB68])
    stack = report.threads[0]
    ntdll = next(m for m in target.modules() if m.name.lower().endswith("ntdll.dll"))
    names = [loc.symbol or "" for loc in stack.locations]
    main = next(i for i, n in enumerate(names) if "ExceptionHandlerThreadMain" in n)
    thunk = stack.frames[main + 1]
    assert thunk.registers["ebp"] == ctx_read(target, 0x179FDF0) == 0x179FE08
    assert [(f.ip - ntdll.base, f.trust) for f in stack.frames[main + 2:]] == [
        (0x60F79, Trust.FRAME_POINTER), (0x60F44, Trust.FRAME_POINTER)]
    assert stack.end_reason.value == "ip_too_low"


def ctx_read(target, address):
    return int.from_bytes(target.read(address, 4), "little")


def test_a_long_scan_candidate_in_a_module_known_only_by_its_range_needs_a_frame_chain(tmp_path):
    # the same rule seen from the scanner: the first call-verified candidate past the window is
    # ntdll+0x6e5dc, rejected (no frame record above it); dbgcore+0x19368 is taken for the
    # three frame records chained from the saved EBP below it
    from toolkit.stackwalk.frame_scan import (ANCHOR_LINKS, SCAN_SLOTS, frame_records_above,
                                              long_scan_for_return)
    from toolkit.symbols.resolver import Resolver
    target = open_target(corpus_path("symbolic/windows/mini.dmp"))
    ctx = WalkContext(target, Resolver.from_symbol_path(str(breakpad_symbol_tree()),
                                                        cache_dir=tmp_path))
    ntdll = next(m for m in target.modules() if m.name.lower().endswith("ntdll.dll"))
    dbgcore = next(m for m in target.modules() if m.name.lower().endswith("dbgcore.dll"))
    stale = 0x179F82C
    assert ctx.read_pointer(stale) == ntdll.base + 0x6E5DC
    assert ctx.call_length(ntdll.base + 0x6E5DC)                  # a CALL does precede it
    assert not ctx.knows_code(ntdll.base + 0x6E5DB)
    assert frame_records_above(ctx, stale, None, ANCHOR_LINKS) < ANCHOR_LINKS
    found = long_scan_for_return(ctx, 0x179F2B0 + SCAN_SLOTS * 4, 1024)
    assert found is not None and found.value == dbgcore.base + 0x19368
    assert found.slot == 0x179F964


def test_breakpad_info_names_the_dump_writing_thread_only_when_its_validity_bit_is_set():
    assert open_target(corpus_path("breakpad/processor/minidump2.dmp")).dump_thread_id() == 0x11C0
    # mini.dmp carries the stream with validity 0: no thread is named
    assert open_target(corpus_path("symbolic/windows/mini.dmp")).dump_thread_id() is None


def test_minidump2_dump_writer_walks_through_dbghelp_to_its_thread_start(tmp_path):
    # its stack above the context's SP was rewritten after the context was taken: the plain
    # scans found MapViewOfFile+0x32 and two ntdll words and ended after 6 frames
    target, _, report = walk("breakpad/processor/minidump2.dmp", tmp_path, tids=[0x11C0])
    stack = report.threads[0]
    ips = [f.ip for f in stack.frames]
    assert not {0x7C80B937, 0x7C910331, 0x7C90DC61} & set(ips)
    names = [loc.symbol or "" for loc in stack.locations]
    assert [n.split("(")[0] for n in names[-3:]] == [
        "google_breakpad::ExceptionHandler::WriteMinidumpWithException",
        "google_breakpad::ExceptionHandler::ExceptionHandlerThreadMain", "BaseThreadStart"]
    assert [loc.module for loc in stack.locations[1:5]] == ["dbghelp.dll"] * 4


def test_dump_writer_scans_take_only_anchored_candidates(tmp_path):
    # Breakpad's test dumps: 29 scanned ntdll/kernel32/KERNELBASE words before; now one scan
    # into dbghelp's frame-pointer chain, down through crashme to the thread start
    target, resolver, report = walk("breakpad/processor/ascii_read_av_xchg_write.dmp", tmp_path,
                                    tids=[0x1198])
    stack = report.threads[0]
    ctx = WalkContext(target, resolver)
    scanned = [f for f in stack.frames if f.trust in (Trust.SCAN, Trust.SCAN_CALLSITE)]
    assert len(scanned) == 1 and stack.locations[1].module == "dbghelp.dll"
    assert all(f.trust is Trust.FRAME_POINTER for f in stack.frames[2:])
    assert "crashme.exe" in [loc.module for loc in stack.locations]
    assert ctx.module_at(stack.frames[-1].ip).name.lower().endswith("ntdll.dll")


def test_x64_dump_writer_without_anchored_candidates_stops_after_its_context_frame(tmp_path):
    # invalid-parameter.dmp's writer scanned 59 frames of dbgcore+0x100, dbgcore+0x27000 ...
    _, _, report = walk("rust-minidump/testdata/invalid-parameter.dmp", tmp_path, tids=[0x1350])
    stack = report.threads[0]
    assert len(stack.frames) == 1 and stack.end_reason.value == "no_caller"
