"""Trust order and the Frame value the walker hands to renderers."""

from __future__ import annotations

import json

from toolkit.model.target import Problem
from toolkit.unwind.trust import EndReason, Frame, Trust


def test_trust_is_ordered_best_first_as_declared():
    assert [t.value for t in sorted(Trust, reverse=True)] == [
        "context", "cfi", "cfi_scan", "frame_pointer", "scan_callsite", "scan"]


def test_call_verified_scan_ranks_between_frame_pointer_and_blind_scan():
    assert Trust.FRAME_POINTER > Trust.SCAN_CALLSITE > Trust.SCAN
    assert Trust.SCAN_CALLSITE.better_than(Trust.SCAN)
    assert not Trust.SCAN_CALLSITE.better_than(Trust.FRAME_POINTER)


def test_max_picks_the_most_trusted_rule():
    assert max([Trust.SCAN, Trust.CFI, Trust.FRAME_POINTER]) is Trust.CFI


def test_breakpad_trusts_carry_breakpads_found_by_sentences():
    assert Trust.CONTEXT.description == "given as instruction pointer in context"
    assert Trust.CFI.description == "call frame info"
    assert Trust.SCAN.description == "stack scanning"


def test_frame_json_pads_addresses_to_pointer_width_and_names_trust():
    frame = Frame(index=1, ip=0x40429E, sp=0x12FF40, trust=Trust.CFI, fp=0x12FF80,
                  registers={"ebp": 0x12FF80}, end_reason=EndReason.STACK_END,
                  problems=(Problem("x", "y"),))
    data = json.loads(json.dumps(frame.to_json(pointer_size=4)))
    assert data["ip"] == "0x0040429e"
    assert data["trust"] == "cfi"
    assert data["registers"] == {"ebp": "0x0012ff80"}
    assert data["end_reason"] == "stack_end"
    assert data["problems"] == [{"code": "x", "message": "y"}]


def test_frame_is_frozen():
    frame = Frame(index=0, ip=1, sp=2, trust=Trust.CONTEXT)
    try:
        frame.ip = 5  # type: ignore[misc]
    except AttributeError:
        return
    raise AssertionError("Frame must be immutable")
