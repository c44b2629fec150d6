"""The walker on real dumps: Breakpad's minidump2 answer, symbolic's mini.dmp, the Wine samples."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import SAMPLES, corpus_path
from toolkit.targets.open import open_target
from toolkit.stackwalk.walker import walk_target
from toolkit.unwind.trust import EndReason, Trust

pytest.importorskip("symbolic")

BREAKPAD_TRUST = {"given as instruction pointer in context": Trust.CONTEXT,
                  "call frame info": Trust.CFI, "call frame info with scanning": Trust.CFI_SCAN,
                  "previous frame's frame pointer": Trust.FRAME_POINTER,
                  "stack scanning": Trust.SCAN}


def resolver(symbol_path, tmp_path):
    from toolkit.symbols.resolver import Resolver
    return Resolver.from_symbol_path(str(symbol_path), cache_dir=tmp_path)


def parse_stackwalk_out(text):
    """Frames of the crashed thread in minidump_stackwalk's human output."""
    frames = []
    block = text.split("(crashed)\n", 1)[1].split("\n\n", 1)[0]
    for chunk in re.split(r"\n(?= ?\d+  )", block):
        head = re.match(r"\s*(\d+)\s+(\S+?)!(.+?)(?: \[(.+) : (\d+) \+ (0x[0-9a-f]+)\]| \+ "
                        r"(0x[0-9a-f]+))?\n", chunk + "\n")
        regs = dict(re.findall(r"(\w+) = (0x[0-9a-f]+)", chunk))
        trust = BREAKPAD_TRUST[re.search(r"Found by: (.+)", chunk).group(1).strip()]
        frames.append({"module": head.group(2), "function": head.group(3).strip(),
                       "function_offset": int(head.group(7), 16) if head.group(7) else None,
                       "line": int(head.group(5)) if head.group(5) else None,
                       "eip": int(regs["eip"], 16), "esp": int(regs["esp"], 16),
                       "ebp": int(regs["ebp"], 16), "trust": trust})
    return frames


def test_minidump2_crashing_thread_equals_breakpads_stackwalk_frame_for_frame(tmp_path):
    # Breakpad's minidump2.stackwalk.out is the reference the issue names; rust-minidump's
    # snapshots of the same dump (its test.dmp) are compared in the two tests below.
    expected = parse_stackwalk_out(
        corpus_path("breakpad/processor/minidump2.stackwalk.out").read_text())
    target = open_target(corpus_path("breakpad/processor/minidump2.dmp"))
    stack = walk_target(target, resolver(corpus_path("breakpad/processor/symbols"), tmp_path),
                        tids=[target.exception().thread_id]).threads[0]
    assert len(stack.frames) == len(expected) == 4
    for frame, loc, want in zip(stack.frames, stack.locations, expected):
        assert (frame.ip, frame.sp, frame.registers.get("ebp")) == \
            (want["eip"], want["esp"], want["ebp"])
        assert (loc.module, loc.symbol, frame.trust) == \
            (want["module"], want["function"], want["trust"])
        if want["function_offset"] is not None:
            assert loc.displacement == want["function_offset"]
        if want["line"] is not None:
            assert loc.line == want["line"]
    assert stack.end_reason is EndReason.IP_TOO_LOW


RUST_SNAPSHOTS = "rust-minidump/expected/test_minidump_stackwalk__{}.snap"


def parse_rust_snapshot(text):
    """Frames of the crashed thread in a rust-minidump ``minidump-stackwalk`` human snapshot.

    Frame heads are ``module!function [file : line + 0xoff]`` with symbols and
    ``module + 0xoff`` without; ``Found by:`` uses Breakpad's sentences.
    """
    block = text.split("(crashed)", 1)[1].split("\n", 1)[1].split("\n\n", 1)[0]
    frames = []
    for chunk in re.split(r"\n(?= ?\d+  )", block):
        head = chunk.strip().split("\n", 1)[0]
        m = re.match(r"\d+\s+(\S+?)(?:!(.+?)(?: \[(.+) : (\d+) \+ (0x[0-9a-f]+)\])?"
                     r"| \+ (0x[0-9a-f]+))$", head)
        regs = {k: int(v, 16) for k, v in re.findall(r"(\w+) = (0x[0-9a-f]+)", chunk)}
        frames.append({"module": m.group(1), "function": m.group(2),
                       "line": int(m.group(4)) if m.group(4) else None,
                       "module_offset": int(m.group(6), 16) if m.group(6) else None,
                       "registers": regs,
                       "trust": BREAKPAD_TRUST[re.search(r"Found by: (.+)", chunk).group(1)]})
    return frames


def _minidump2_stack(symbol_path, tmp_path):
    target = open_target(corpus_path("breakpad/processor/minidump2.dmp"))
    res = resolver(symbol_path, tmp_path) if symbol_path is not None else None
    return walk_target(target, res, tids=[target.exception().thread_id]).threads[0]


def test_minidump2_with_symbols_matches_rust_minidumps_snapshot_where_it_agrees_with_breakpad(
        tmp_path):
    # rust-minidump's human-symbols snapshot of test.dmp (byte-identical to minidump2.dmp),
    # frame by frame. They agree with Breakpad on every frame's eip/esp/ebp, module, function,
    # line and trust (context, then cfi x3). Where they differ we follow Breakpad:
    # - the line offset: rust prints "65 + 0x4" / "327 + 0x11" (from the lookup address,
    #   return address - 1), Breakpad "+ 0x5" / "+ 0x12" (from the return address, as WinDbg's
    #   displacements are); our displacement is the return address's;
    # - frame 3: rust had no kernel32 symbols ("kernel32.dll + 0x16fd6"); Breakpad's corpus
    #   symbols name it BaseProcessStart, and so do we;
    # - rust carries ebx/esi/edi through the STACK WIN frames (callee-saved: unchanged where
    #   the program does not restore them) and so do we (issue 11 item 4: the next frame's
    #   program reads them); Breakpad's printout shows only eip, esp, ebp.
    rust = parse_rust_snapshot(corpus_path(RUST_SNAPSHOTS.format("human-symbols")).read_text())
    stack = _minidump2_stack(corpus_path("breakpad/processor/symbols"), tmp_path)
    assert len(stack.frames) == len(rust) == 4
    for frame, loc, want in zip(stack.frames, stack.locations, rust):
        regs = want["registers"]
        assert (frame.ip, frame.sp, frame.registers["ebp"]) == \
            (regs["eip"], regs["esp"], regs["ebp"])
        assert frame.trust is want["trust"]
        assert loc.module == want["module"]
        if want["function"] is not None:
            assert (loc.symbol, loc.line) == (want["function"], want["line"])
        else:
            assert loc.symbol == "BaseProcessStart"          # Breakpad's answer, see above
        assert {k: frame.registers[k] for k in ("ebx", "esi", "edi")} == \
            {k: regs[k] for k in ("ebx", "esi", "edi")}


def test_minidump2_without_symbols_matches_rust_minidumps_frame_pointer_walk(tmp_path):
    # rust-minidump's human snapshot (no symbols): frames 1-3 by "previous frame's frame
    # pointer", module offsets of the caller's lookup address (return address - 1).
    rust = parse_rust_snapshot(corpus_path(RUST_SNAPSHOTS.format("human")).read_text())
    target = open_target(corpus_path("breakpad/processor/minidump2.dmp"))
    stack = _minidump2_stack(None, tmp_path)
    bases = {m.name.replace("\\", "/").rsplit("/", 1)[-1].lower(): m.base
             for m in target.modules()}
    assert len(stack.frames) == len(rust) == 4
    for frame, want in zip(stack.frames, rust):
        regs = want["registers"]
        assert (frame.ip, frame.sp, frame.registers["ebp"], frame.trust) == \
            (regs["eip"], regs["esp"], regs["ebp"], want["trust"])
        lookup = frame.ip - (1 if frame.index else 0)
        assert lookup - bases[want["module"].lower()] == want["module_offset"]


def test_symbolic_mini_dmp_walks_every_thread_down_to_a_stated_end(tmp_path):
    target = open_target(corpus_path("symbolic/windows/mini.dmp"))
    report = walk_target(target, resolver(corpus_path("symbolic/windows"), tmp_path))
    assert len(report.threads) == len(target.threads()) == 4
    crashed = report.threads[0]
    names = [loc.symbol.split("(")[0] for loc in crashed.locations if loc and loc.symbol]
    assert names[:2] == ["main", "__scrt_common_main_seh"]
    assert [f.trust for f in crashed.frames[:3]] == [Trust.CONTEXT, Trust.CFI, Trust.CFI]
    for stack in report.threads:
        assert stack.end_reason is not EndReason.NONE
    # every thread reaches ntdll's thread start and ends on a zero return address. The
    # dumping thread (2920) sits in a KERNELBASE frame with ~270 slots of locals (a CONTEXT)
    # and no unwind info: the 40-slot scan of the peers finds nothing there; the long scan
    # resumes above it at dbgcore's frame, whose saved EBP starts a frame-pointer chain (the
    # call-verified ntdll copies between are dead stack), and reaches crash.exe's handler thread.
    assert all(s.end_reason is EndReason.IP_TOO_LOW and len(s.frames) >= 4
               for s in report.threads)
    dumper = next(s for s in report.threads if s.tid == 2920)
    assert dumper.locations[2].module == "dbgcore.dll"
    assert dumper.frames[2].sp - dumper.frames[1].sp > 40 * 4
    assert dumper.frames[3].trust is Trust.FRAME_POINTER
    names = [loc.symbol.split("(")[0] for loc in dumper.locations
             if loc is not None and loc.module == "crash.exe" and loc.symbol]
    assert names[-1] == "google_breakpad::ExceptionHandler::ExceptionHandlerThreadMain"


def _names(stack, program):
    out = []
    for frame, loc in zip(stack.frames, stack.locations):
        if loc is not None and loc.module and loc.module.lower().startswith(program.lower()):
            out.append((loc.symbol.split("(")[0] if loc.symbol else None, frame.trust))
    return out


def _sample_cases():
    path = SAMPLES / "EXPECTED.json"
    if not path.is_file():
        return []
    doc = json.loads(path.read_text())
    cases = []
    for rel, info in doc["dumps"].items():
        cases.append(pytest.param(rel, info, id=rel.split("/")[-1]))
    return cases


@pytest.mark.parametrize("rel,info", _sample_cases())
def test_samples_walk_the_expected_call_chains(rel, info, tmp_path):
    dump = SAMPLES / rel
    if not dump.is_file():
        pytest.skip(f"{rel} not built")
    target = open_target(dump)
    report = walk_target(target, resolver(SAMPLES / "bin", tmp_path))
    by_role = {t["role"]: t for t in info["threads"]}
    assert len(report.threads) == len(info["threads"])
    for stack, expected in zip(report.threads, info["threads"]):
        want = expected["call_chain"]
        if stack.context_source == "exception":
            want = info["exception"]["call_chain"]
        got = _names(stack, info["program"])
        assert [n for n, _ in got[:len(want)]] == want, (expected["role"], got)
        if info["arch"] == "amd64":
            assert all(t is Trust.CFI for _, t in got[1:len(want)]), got
    assert by_role


@pytest.mark.parametrize("name,chains", [
    ("crash-x86_64-mingw-ext-normal", [["level4", "level3", "level2", "level1", "main"]]),
    ("crash-x86_64-nocrt-ext-normal", [["level4", "level3", "level2", "level1", "main"]]),
    ("deadlock-x86_64-mingw-ext-normal", [["main"], ["take_second_mutex", "thread_a"],
                                          ["take_second_mutex", "thread_b"],
                                          ["take_second_cs", "thread_c"],
                                          ["take_second_cs", "thread_d"]]),
])
def test_corpus_wine_x64_dumps_walk_with_cfi_from_the_exe_found_by_code_id(name, chains,
                                                                          tmp_path):
    target = open_target(corpus_path(f"wine/dumps/{name}.dmp"))
    program = name.rsplit("-ext", 1)[0]
    report = walk_target(target, resolver(corpus_path("wine/bin"), tmp_path))
    for stack, want in zip(report.threads, chains):
        got = _names(stack, program)
        assert [n for n, _ in got[:len(want)]] == want
        # the first exe frame of a thread waiting in ntdll is found by the (call-verified) scan;
        # every exe frame after it comes from the exe's .pdata
        assert all(t is Trust.CFI for _, t in got[1:len(want)])
        assert got[0][1] in (Trust.CONTEXT, Trust.SCAN_CALLSITE)


@pytest.mark.parametrize("rel", ["dumps/deadlock_cs_x86-normal.dmp",
                                 "dumps/deadlock_mutex_x86-full-trim-cv-handles.dmp"])
def test_wine_realigned_frames_resume_at_the_real_return_slot_not_its_copy(rel, tmp_path):
    # Wine's i386 ntdll/kernelbase functions open with GCC's realigning prolog, which pushes a
    # copy of the return address under the aligned frame: EBP + 4 is the copy, the real slot
    # lies 0..12 bytes above EBP + 8. The caller's SP must sit just above the real slot, where
    # the exe's STACK WIN program then finds the next return address; no frame repeats.
    dump = SAMPLES / rel
    if not dump.is_file():
        pytest.skip(f"{rel} not built")
    target = open_target(dump)
    report = walk_target(target, resolver(SAMPLES / "bin", tmp_path))

    def word(address):
        return int.from_bytes(target.read(address, 4), "little")

    realigned = 0
    for stack in report.threads:
        for callee, caller in zip(stack.frames, stack.frames[1:]):
            assert (caller.ip, caller.symbol) != (callee.ip, callee.symbol) or \
                caller.symbol is None, stack.frames
            if caller.trust is Trust.FRAME_POINTER and caller.sp != callee.registers["ebp"] + 8:
                realigned += 1
                # the real return slot (just below the caller's SP) holds the return address,
                # and so does the copy at EBP + 4
                ebp = callee.registers["ebp"]
                assert word(caller.sp - 4) == caller.ip == word(ebp + 4)
                assert 0 <= caller.sp - 4 - (ebp + 8) <= 12
    assert realigned >= len(report.threads)
