"""``patch-check`` on a stack it could not read whole (issue 12): the aliased dump's thread claims
256 MiB of stack, the scan stops at the file's size, so slots past the cut were never seen and
finding nothing in the rest clears nothing: the verdict is UNKNOWN, with the cut as its reason."""

from __future__ import annotations

import json

import pytest

from tests.hostile.hostile_inputs import run_dumpkit
from tests.hostile.test_scan_aliasing import aliased_dump
from toolkit.stackwalk.patch_check import patch_check
from toolkit.targets.open import open_target

UNTOUCHED = "app.dll+2000-2010"       # no slot of the aliased stack points here
TOUCHED = "app.dll+1000-1010"         # every slot points at app.dll+0x1005


@pytest.fixture
def aliased(tmp_path):
    path = tmp_path / "aliased.dmp"
    path.write_bytes(aliased_dump())
    return path


def test_a_cut_scan_without_evidence_is_unknown_not_safe(aliased):
    report = patch_check(open_target(aliased), ranges=[UNTOUCHED])
    (thread,) = report.threads
    assert (thread.verdict, report.verdict, report.safe) == ("UNKNOWN", "UNKNOWN", False)
    assert "scan.bounded" in [p.code for p in thread.problems]


def test_evidence_in_the_slots_seen_is_unsafe_even_when_the_scan_was_cut(aliased):
    report = patch_check(open_target(aliased), ranges=[TOUCHED])
    assert report.verdict == "UNSAFE" and report.threads[0].evidence


def test_the_command_prints_unknown_with_the_reason_and_exits_0(aliased):
    out = run_dumpkit("patch-check", str(aliased), "--range", UNTOUCHED)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert lines[-1] == "Overall: UNKNOWN"
    assert any(line.strip().startswith("problem: scan.bounded") for line in lines)


def test_the_json_verdict_is_unknown_per_thread_and_overall(aliased):
    out = run_dumpkit("patch-check", str(aliased), "--range", UNTOUCHED, "--json")
    assert out.returncode == 0, out.stderr[-2000:]
    doc = json.loads(out.stdout)
    assert doc["verdict"] == "UNKNOWN" and doc["threads"][0]["verdict"] == "UNKNOWN"
    assert [p["code"] for p in doc["threads"][0]["problems"]] == ["scan.bounded"]
