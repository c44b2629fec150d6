"""``dumpkit patch-check``: per-thread evidence and an overall SAFE/UNSAFE verdict."""

from __future__ import annotations

import json

import pytest

from tests.commands.crash_sample import need_crash_sample, run_on_crash  # noqa: F401 (autouse)

pytest.importorskip("symbolic")


def run(*args):
    return run_on_crash("patch-check", *args)


def test_a_function_on_the_stack_is_unsafe_with_call_verified_evidence():
    result = run("--function", "crash_x64!crash_level2")
    assert result.exit_code == 0, result.output
    assert "return address (call-verified)" in result.output
    assert result.output.rstrip().endswith("Overall: UNSAFE")


def test_an_untouched_range_is_safe_in_json():
    doc = json.loads(run("--range", "crash_x64+4000-4010", "--json").output)
    assert doc["verdict"] == "SAFE" and doc["threads"][0]["evidence"] == []


def test_no_function_given_is_a_usage_error():
    result = run()
    assert result.exit_code == 2


def test_a_range_outside_the_module_is_one_line_exit_2():
    result = run("--range", "crash_x64+0-100000")
    assert result.exit_code == 2 and "InputError" in result.output
