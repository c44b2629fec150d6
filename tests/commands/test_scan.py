"""``dumpkit scan``: dps-like lines with call verdicts; --only-verified, --range, --json."""

from __future__ import annotations

import json

import pytest

from tests.commands.crash_sample import need_crash_sample, run_on_crash  # noqa: F401 (autouse)

pytest.importorskip("symbolic")


def run(*args):
    return run_on_crash("scan", *args)


def test_only_verified_text_lines_are_all_call_preceded():
    result = run("--only-verified")
    assert result.exit_code == 0, result.output
    hits = [l for l in result.output.splitlines() if l.startswith("00000000`")]
    assert hits and all(" call " in l for l in hits)
    assert any("crash_x64!crash_level3" in l for l in hits)


def test_json_counts_candidates_and_verified():
    doc = json.loads(run("--json").output)
    region = doc["regions"][0]
    assert doc["command"] == "scan" and region["candidates"] >= region["call_verified"] > 0
    assert {h["kind"] for h in region["hits"]} <= {"code", "code_outside_modules"}


def test_range_must_be_start_below_end():
    result = run("--range", "2000-1000")
    assert result.exit_code == 2 and "END must be above START" in result.output
