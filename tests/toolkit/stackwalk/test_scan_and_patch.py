"""The conservative scan and the hot-patch check on the Wine samples and corpus dumps."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import SAMPLES, corpus_path
from toolkit.model.errors import InputError
from toolkit.targets.open import open_target
from toolkit.stackwalk.context import WalkContext
from toolkit.stackwalk.patch_check import patch_check
from toolkit.stackwalk.scan import KIND_CODE, KIND_DATA, code_ranges, scan_range, scan_threads

pytest.importorskip("symbolic")
CRASH = SAMPLES / "dumps/crash_x64-normal.dmp"


def resolver(path, tmp_path):
    from toolkit.symbols.resolver import Resolver
    return Resolver.from_symbol_path(str(path), cache_dir=tmp_path)


def need(path):
    if not path.is_file():
        pytest.skip(f"{path} not built")
    return path


def test_classification_puts_exe_text_in_code_and_stack_addresses_in_data(tmp_path):
    target = open_target(need(CRASH))
    ctx = WalkContext(target, resolver(SAMPLES / "bin", tmp_path))
    ranges = code_ranges(ctx)
    exe = ctx.modules.by_name("crash_x64.exe")
    kinds = ranges.classify(np.array([exe.base + 0x1000, exe.base, 0x11f8a8, 0], np.uint64))
    assert kinds.tolist() == [KIND_CODE, KIND_DATA, KIND_DATA, KIND_DATA]


def test_every_walked_exe_return_address_is_a_call_verified_scan_hit(tmp_path):
    from toolkit.stackwalk.walker import walk_target
    target = open_target(need(CRASH))
    res = resolver(SAMPLES / "bin", tmp_path)
    region = scan_threads(target, res).regions[0]
    verified = {h.value for h in region.hits if h.call_verified}
    stack = walk_target(target, res).threads[0]
    returns = [f.ip for f in stack.frames[1:6]]
    assert returns and set(returns) <= verified


def test_only_verified_keeps_call_preceded_hits_only(tmp_path):
    target = open_target(need(CRASH))
    report = scan_threads(target, resolver(SAMPLES / "bin", tmp_path), only_verified=True)
    hits = report.regions[0].hits
    assert hits and all(h.call_verified for h in hits)


def test_range_scan_covers_exactly_the_requested_slots(tmp_path):
    target = open_target(need(CRASH))
    sp = target.exception().registers.sp
    region = scan_range(target, sp, sp + 0x100, resolver(SAMPLES / "bin", tmp_path)).regions[0]
    assert (region.start, region.slots) == (sp, 0x20)


def test_scan_of_the_largest_corpus_stack_reports_its_slots():
    target = open_target(corpus_path("breakpad/processor/stack_exhaustion.dmp"))
    report = scan_threads(target, None, symbolize=False)
    assert max(r.slots for r in report.regions) > 200_000


def test_patch_check_is_unsafe_with_ip_and_call_verified_slot_evidence(tmp_path):
    target = open_target(need(CRASH))
    report = patch_check(target, ["crash_x64!crash_level2", "crash_x64!crash_read"], [],
                         resolver(SAMPLES / "bin", tmp_path))
    assert not report.safe
    evidence = report.threads[0].evidence
    assert {(e.function, e.kind) for e in evidence} >= {
        ("crash_x64!crash_read", "ip"), ("crash_x64!crash_level2", "slot")}
    assert all(e.call_verified for e in evidence if e.kind == "slot")


def test_patch_check_is_safe_for_a_function_no_thread_touches(tmp_path):
    target = open_target(need(CRASH))
    report = patch_check(target, [], ["crash_x64+4000-4010"], resolver(SAMPLES / "bin", tmp_path))
    assert report.safe and report.to_json()["verdict"] == "SAFE"


def test_patch_check_refuses_unknown_functions_with_a_clear_error(tmp_path):
    target = open_target(need(CRASH))
    with pytest.raises(InputError, match="no symbol or export"):
        patch_check(target, ["crash_x64!no_such_function"], [], resolver(SAMPLES / "bin", tmp_path))
