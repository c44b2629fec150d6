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
