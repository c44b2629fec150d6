"""Each SEH rule on hand-made contexts: one behaviour per test, named for it."""

from __future__ import annotations

from toolkit.seh import rules
from toolkit.seh.images import ImageFacts
from toolkit.seh.model import Outcome, RecordVerdict, RuleVerdict
from toolkit.seh.rules import ChainContext, RecordContext
from toolkit.model.target import MemoryInfo

LIMIT, BASE = 0x00412000, 0x00510000
EXE = ImageFacts("app.exe", 0x400000, True, "dump", has_table=True, handlers=(0x1000, 0x1010))
NOTABLE = ImageFacts("lib.dll", 0x10000000, True, "dump")
NOSEH = ImageFacts("noseh.dll", 0x20000000, True, "dump", no_seh=True)
ILONLY = ImageFacts("managed.dll", 0x30000000, True, "dump", il_only=True)
MISSING = ImageFacts("gone.dll", 0x40000000, False, reason="the image is not in the dump")


def ctx(address=0x50FA90, next_=0x50FAB0, handler=0x401000, image=EXE, **kw) -> RecordContext:
    return RecordContext(address, next_, handler, kw.pop("stack_limit", LIMIT),
                         kw.pop("stack_base", BASE), image, **kw)


def outcome(rule, c) -> Outcome:
    return rule(c).outcome


def test_record_below_stack_limit_fails_stack_low():
    assert outcome(rules.stack_low, ctx(address=LIMIT - 8)) is Outcome.FAIL
    assert outcome(rules.stack_low, ctx(address=LIMIT)) is Outcome.PASS


def test_record_whose_end_passes_stack_base_fails_stack_high():
    assert outcome(rules.stack_high, ctx(address=BASE - 8)) is Outcome.PASS
    assert outcome(rules.stack_high, ctx(address=BASE - 4)) is Outcome.FAIL


def test_stack_rules_are_unverifiable_without_nt_tib():
    c = ctx(stack_limit=None, stack_base=None)
    assert {outcome(r, c) for r in (rules.stack_low, rules.stack_high,
                                    rules.handler_not_on_stack)} == {Outcome.UNVERIFIABLE}


def test_misaligned_record_fails_align():
    assert outcome(rules.align, ctx(address=0x50FA92)) is Outcome.FAIL
    assert outcome(rules.align, ctx(address=0x50FA94)) is Outcome.PASS


def test_next_below_the_record_end_fails_ascending():
    assert outcome(rules.ascending, ctx(next_=0x50FA94)) is Outcome.FAIL
    assert outcome(rules.ascending, ctx(next_=0x50FA98)) is Outcome.PASS
    assert outcome(rules.ascending, ctx(next_=0xFFFFFFFF)) is Outcome.PASS
    assert outcome(rules.ascending, ctx(next_=None)) is Outcome.UNVERIFIABLE


def test_handler_on_the_stack_fails():
    assert outcome(rules.handler_not_on_stack, ctx(handler=0x50F000)) is Outcome.FAIL
    assert outcome(rules.handler_not_on_stack, ctx(handler=BASE)) is Outcome.PASS


def test_safeseh_membership_is_a_table_lookup():
    assert outcome(rules.safeseh_listed, ctx(handler=0x401010)) is Outcome.PASS
    assert outcome(rules.safeseh_listed, ctx(handler=0x401011)) is Outcome.FAIL


def test_safeseh_does_not_apply_without_a_table_and_no_table_says_unverifiable():
    c = ctx(handler=0x10001234, image=NOTABLE)
    assert outcome(rules.safeseh_listed, c) is Outcome.NOT_APPLICABLE
    assert outcome(rules.no_table, c) is Outcome.UNVERIFIABLE
    assert outcome(rules.no_table, ctx()) is Outcome.PASS


def test_no_seh_image_rejects_every_handler():
    c = ctx(handler=0x20001000, image=NOSEH)
    assert outcome(rules.no_seh_image, c) is Outcome.FAIL
    assert outcome(rules.no_table, c) is Outcome.NOT_APPLICABLE


def test_il_only_image_rejects_every_handler():
    assert outcome(rules.ilonly_image, ctx(handler=0x30001000, image=ILONLY)) is Outcome.FAIL
    assert outcome(rules.ilonly_image, ctx()) is Outcome.PASS


def test_image_rules_are_unverifiable_when_the_image_is_unavailable_and_say_why():
    c = ctx(handler=0x40001000, image=MISSING)
    for rule in (rules.safeseh_listed, rules.no_seh_image, rules.ilonly_image, rules.no_table):
        v = rule(c)
        assert v.outcome is Outcome.UNVERIFIABLE and "not in the dump" in v.reason


def test_handler_outside_images_without_memory_info_is_unknown_memory():
    v = rules.not_in_image(ctx(handler=0x00230000, image=None))
    assert v.outcome is Outcome.UNVERIFIABLE and "unknown memory" in v.reason


def test_handler_outside_images_on_a_non_executable_page_fails():
    rw = MemoryInfo(0x230000, 0x230000, 4, 0x1000, 0x1000, 0x04, 0x20000)
    c = ctx(handler=0x230010, image=None, memory=rw, memory_info_present=True)
    assert outcome(rules.not_in_image, c) is Outcome.FAIL


def test_handler_on_executable_private_memory_depends_on_process_flags():
    rx = MemoryInfo(0x230000, 0x230000, 0x20, 0x1000, 0x1000, 0x20, 0x20000)
    v = rules.not_in_image(ctx(handler=0x230010, image=None, memory=rx, memory_info_present=True))
    assert v.outcome is Outcome.UNVERIFIABLE and "EXECUTE_DISPATCH_ENABLE" in v.reason


def _rec(address, failing=(), unverifiable=()):
    vs = tuple(RuleVerdict(r, Outcome.FAIL, "") for r in failing) + \
        tuple(RuleVerdict(r, Outcome.UNVERIFIABLE, "") for r in unverifiable)
    return RecordVerdict(address, 0, 0x401000, vs)


def test_sehop_final_passes_only_for_ntdll_final_exception_handler():
    recs = (_rec(0x50FF8C),)
    ok = ChainContext(recs, "end", "ntdll.dll", "FinalExceptionHandler", True)
    assert rules.sehop_final(ok).outcome is Outcome.PASS
    other = ChainContext(recs, "end", "ntdll.dll", "RtlUserThreadStart", True)
    assert rules.sehop_final(other).outcome is Outcome.FAIL
    elsewhere = ChainContext(recs, "end", "app.exe", "seh_h1", True)
    assert rules.sehop_final(elsewhere).outcome is Outcome.FAIL
    unnamed = ChainContext(recs, "end", "ntdll.dll", None, False)
    assert rules.sehop_final(unnamed).outcome is Outcome.UNVERIFIABLE


def test_sehop_final_fails_on_a_loop_and_is_unverifiable_when_memory_runs_out():
    assert rules.sehop_final(ChainContext((_rec(1),), "loop")).outcome is Outcome.FAIL
    assert rules.sehop_final(ChainContext((_rec(1),), "unreadable")).outcome is \
        Outcome.UNVERIFIABLE


def test_sehop_walk_fails_on_a_stack_check_failure_only():
    assert rules.sehop_walk(ChainContext((_rec(4, ["ALIGN"]),), "end")).outcome is Outcome.FAIL
    assert rules.sehop_walk(ChainContext((_rec(4, ["SAFESEH_LISTED"]),), "end")).outcome is \
        Outcome.PASS


def test_every_rule_is_registered_with_its_basis():
    assert set(rules.RULES) == {"STACK_LOW", "STACK_HIGH", "ALIGN", "ASCENDING",
                                "HANDLER_NOT_ON_STACK", "SAFESEH_LISTED", "NO_SEH_IMAGE",
                                "ILONLY_IMAGE", "NO_TABLE", "NOT_IN_IMAGE", "SEHOP_FINAL",
                                "SEHOP_WALK"}
    assert {r.basis for r in rules.RULES.values()} == {"documented", "inferred"}
    assert rules.align(ctx()).basis == "documented"
    assert rules.ascending(ctx()).basis == "inferred"
