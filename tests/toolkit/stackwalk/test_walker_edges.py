"""Every walk ends with a stated reason: cycles, zeroed registers, truncated stacks, no modules."""

from __future__ import annotations

from tests.toolkit.stackwalk.fake_target import FakeTarget, thread, words
from toolkit.stackwalk.walker import walk_target
from toolkit.model.target import Arch, Module
from toolkit.unwind.trust import EndReason, Trust

CODE = Module(0x400000, 0x10000, "app.exe")
# call rel32 ending at 0x401005, 0x401105 and 0x401205 (E8 + 4 bytes), for the call-site check
CODE_BYTES = {0x401000: b"\xe8\0\0\0\0" + b"\x90" * 0xfb + b"\xe8\0\0\0\0" + b"\x90" * 0xfb
              + b"\xe8\0\0\0\0"}


def walk(memory, regs, arch=Arch.X86, stack=(0x1000, 0x2000), modules=(CODE,), **kw):
    target = FakeTarget(arch, {**CODE_BYTES, **memory}, list(modules),
                        [thread(arch, 1, stack[0], stack[1], **regs)])
    return walk_target(target, **kw).threads[0]


def test_a_cyclic_frame_pointer_chain_ends_instead_of_looping():
    # ebp -> 0x1100 -> 0x1010 -> 0x1100 ...: SP would have to go down again, so the walk stops.
    stack = {0x1000: words([0] * 4 + [0x1100, 0x401105] + [0] * 58 + [0x1010, 0x401205])}
    result = walk(stack, {"eip": 0x401005, "esp": 0x1000, "ebp": 0x1010})
    assert result.end_reason in (EndReason.SP_NOT_INCREASING, EndReason.CYCLE,
                                 EndReason.NO_CALLER)
    assert len(result.frames) < 10


def test_zeroed_eip_and_ebp_give_a_stated_end_not_a_crash():
    # the selagroup Dump.dmp lab: stack corruption zeroed EIP and EBP; the scan still finds
    # the return address on the stack, and the walk ends with a reason.
    stack = {0x1000: words([0x12345678, 0x401105, 0, 0])}
    result = walk(stack, {"eip": 0, "esp": 0x1000, "ebp": 0})
    assert result.frames[0].ip == 0
    assert [f.ip for f in result.frames[1:2]] == [0x401105]
    assert result.frames[1].trust is Trust.SCAN_CALLSITE
    assert result.end_reason is not EndReason.NONE


def test_a_stack_truncated_by_the_dump_ends_as_unreadable_or_no_caller():
    stack = {0x1000: words([0x401105])}          # only 4 bytes of the stack were captured
    result = walk(stack, {"eip": 0x401005, "esp": 0x1000, "ebp": 0x1800})
    assert result.end_reason in (EndReason.NO_CALLER, EndReason.STACK_END)
    assert len(result.frames) == 2


def test_without_modules_no_candidate_is_code_and_the_walk_stops_at_frame_zero():
    stack = {0x1000: words([0x401105] * 8)}
    result = walk(stack, {"eip": 0x401005, "esp": 0x1000, "ebp": 0}, modules=())
    assert len(result.frames) == 1 and result.end_reason is EndReason.NO_CALLER


def _realigned_stack(saved_ecx):
    # ebp = 0x1100: [ebp-4] = saved ecx, [ebp] = caller's ebp, [ebp+4] = copy of the return
    # address, [ebp+8], [ebp+0xc] = alignment padding, [ebp+0x10] = the real return slot.
    values = [0] * 0x3f + [saved_ecx, 0x1200, 0x401105, 0, 0, 0x401105, 0xdead] + [0] * 40
    return {0x1000: words(values)}


def test_a_gcc_realigned_frame_returns_above_the_real_return_slot():
    result = walk(_realigned_stack(0x1114), {"eip": 0x401005, "esp": 0x1000, "ebp": 0x1100})
    caller = result.frames[1]
    assert (caller.ip, caller.sp, caller.trust) == (0x401105, 0x1114, Trust.FRAME_POINTER)


def test_a_repeated_return_address_without_the_saved_ecx_is_an_ordinary_frame():
    # the same words but no saved ECX pointing above the second copy: EBP + 8 as usual
    result = walk(_realigned_stack(0), {"eip": 0x401005, "esp": 0x1000, "ebp": 0x1100})
    assert (result.frames[1].ip, result.frames[1].sp) == (0x401105, 0x1108)


def test_beyond_the_scan_window_a_call_alone_does_not_vouch_for_a_module_known_by_range_only():
    # frame 1 has no unwind info and a 100-slot frame: the 40-slot window is empty. app.exe has
    # no headers or symbols here, so the CALL before 0x401205 proves nothing (dead stack keeps
    # such copies): with no frame record above it, the walk ends instead.
    values = [0x401105] + [0] * 100 + [0x401050] + [0] * 20 + [0x401205] + [0] * 8
    result = walk({0x1000: words(values)}, {"eip": 0x401005, "esp": 0x1000, "ebp": 0})
    assert [(f.ip, f.trust) for f in result.frames[1:]] == [(0x401105, Trust.SCAN_CALLSITE)]


def test_beyond_the_scan_window_a_candidate_that_starts_a_frame_pointer_chain_is_taken():
    # the same frame, but the word below 0x401205 is a saved EBP leading through three frame
    # records {saved EBP, return address}: a standard prolog's frame. The unverified 0x401050
    # before it, with nothing below, is still skipped.
    def at(i):
        return 0x1000 + 4 * i
    values = ([0x401105] + [0] * 100 + [0x401050] + [0] * 19
              + [at(124), 0x401205, 0, at(126), 0x401105, at(128), 0x401005, 0, 0x401105]
              + [0] * 8)
    result = walk({0x1000: words(values)}, {"eip": 0x401005, "esp": 0x1000, "ebp": 0})
    assert [(f.ip, f.trust) for f in result.frames[1:3]] == \
        [(0x401105, Trust.SCAN_CALLSITE), (0x401205, Trust.SCAN_CALLSITE)]
    assert result.frames[2].sp == at(123) and result.frames[2].fp == at(124)
    assert result.frames[3].trust is Trust.FRAME_POINTER


def test_the_frame_cap_stops_a_runaway_walk():
    # 64 fake frames, each a frame-pointer record pointing 8 bytes up
    values = []
    for i in range(64):
        values += [0x1000 + 8 * (i + 1), 0x401105]
    result = walk({0x1000: words(values)}, {"eip": 0x401005, "esp": 0xff0, "ebp": 0x1000},
                  max_frames=10)
    assert len(result.frames) == 10 and result.end_reason is EndReason.FRAME_LIMIT


def test_a_thread_without_context_reports_why():
    target = FakeTarget(Arch.X86, {}, [CODE], [thread(Arch.X86, 7, 0x1000, 0x2000)])
    result = walk_target(target).threads[0]
    assert result.frames == () and result.end_reason is EndReason.UNREADABLE
    assert result.problems[0].code == "stackwalk.no_start"


def test_arm64_follows_the_frame_record_chain_and_strips_pac_bits():
    mod = Module(0x7FF600000000, 0x10000, "app.exe")
    ret1, ret2 = 0x7FF600001234, 0x7FF600002345
    # record at 0x1000 -> {0x1010, ret1 with a PAC}, record at 0x1010 -> {0, ret2}
    stack = {0x1000: words([0x1010, ret1 | (0x5A << 56), 0, ret2, 0, 0], 8)}
    target = FakeTarget(Arch.ARM64, stack, [mod],
                        [thread(Arch.ARM64, 1, 0x1000, 0x1030, pc=0x7FF600001000, sp=0x1000,
                                fp=0x1000, lr=ret1)])
    result = walk_target(target).threads[0]
    assert [f.ip for f in result.frames] == [0x7FF600001000, ret1, ret2]
    assert [f.trust for f in result.frames[1:]] == [Trust.FRAME_POINTER, Trust.FRAME_POINTER]
