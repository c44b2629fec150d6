"""Modules whose base + size leaves the 64-bit address space (issue 12): every command that
indexes modules drops them with a note or refuses the input in one line, never a traceback."""

from __future__ import annotations

import json

import pytest

from tests.hostile.hostile_inputs import SAMPLE_X64, run_dumpkit, with_module_base
from toolkit.symbols.module_index import ModuleIndex
from toolkit.model.target import Module
from toolkit.targets.trace import TraceModule, read_trace, write_trace

PAST_THE_END = (0xFFFFFFFFFFFFF000, 0x20000)     # base + size = 2**64 + 0x1f000


@pytest.fixture(scope="module")
def wrapped_dump(tmp_path_factory):
    path = tmp_path_factory.mktemp("hostile") / "module_past_2_64.dmp"
    path.write_bytes(with_module_base(SAMPLE_X64.read_bytes(), 0, *PAST_THE_END))
    return path


def assert_no_traceback(out) -> None:
    assert "Traceback" not in out.stderr and out.returncode in (0, 1, 2), out.stderr[-2000:]


@pytest.mark.parametrize("command", [["stack"], ["stack", "--all-threads"], ["scan"],
                                     ["deadlock"], ["analyze"], ["exchain"], ["info"]])
def test_dump_commands_drop_a_module_past_2_64(wrapped_dump, command):
    out = run_dumpkit(*command, str(wrapped_dump))
    assert_no_traceback(out)
    assert out.returncode in (0, 1)                  # 1: nothing to analyse (exchain x64)
    assert all(line.startswith("*** ") for line in out.stderr.splitlines())   # notes only


def test_info_notes_the_dropped_module(wrapped_dump):
    out = run_dumpkit("info", str(wrapped_dump))
    assert "module.out_of_range: crash_x64.exe" in out.stdout


def test_patch_check_names_the_dropped_module_as_absent(wrapped_dump):
    out = run_dumpkit("patch-check", str(wrapped_dump), "--range", "crash_x64.exe+1000-2000")
    assert_no_traceback(out)
    assert out.returncode == 2 and out.stderr.count("\n") == 1


def test_symbolize_with_the_dump_notes_the_dropped_module(wrapped_dump):
    out = run_dumpkit("symbolize", "--dump", str(wrapped_dump), stdin="0x401000\n")
    assert_no_traceback(out)
    assert out.returncode == 0 and "outside the 64-bit address space" in out.stderr


@pytest.mark.parametrize("base,size", [(-0x1000, 0x1000), (0x10000, -5), (1 << 70, 0x1000),
                                       (*PAST_THE_END,)], ids=["neg-base", "neg-size", "huge-base",
                                                               "past-end"])
def test_symbolize_modules_json_out_of_range_is_one_line_error(tmp_path, base, size):
    table = tmp_path / "modules.json"
    table.write_text(json.dumps([{"name": "a.dll", "base": base, "size": size}]))
    out = run_dumpkit("symbolize", "--modules", str(table), stdin="0x401000\n")
    assert out.returncode == 2 and out.stderr.startswith("InputError: ")
    assert len(out.stderr.splitlines()) == 1


def test_symbolize_modules_json_with_a_5000_digit_integer_is_one_line_error(tmp_path):
    table = tmp_path / "modules.json"
    table.write_text('[{"name": "a.dll", "base": ' + "9" * 5000 + ', "size": 4096}]')
    out = run_dumpkit("symbolize", "--modules", str(table), stdin="0x401000\n")
    assert out.returncode == 2 and out.stderr.startswith("InputError: ")
    assert len(out.stderr.splitlines()) == 1


def test_trace_module_past_2_64_is_dropped_with_a_problem(tmp_path):
    trace = tmp_path / "wrapped.trace"
    write_trace(trace, [TraceModule("a.dll", *PAST_THE_END, 0, 0x20000),
                        TraceModule("b.dll", 0x400000, 0x1000, 0, 0x1000)])
    read = read_trace(trace)
    assert [m.name for m in read.modules] == ["b.dll"]
    assert [p.code for p in read.problems] == ["module.out_of_range"]


def test_symbolize_trace_with_a_module_past_2_64_notes_it(tmp_path):
    trace = tmp_path / "wrapped.trace"
    write_trace(trace, [TraceModule("a.dll", *PAST_THE_END, 0, 0x20000)])
    out = run_dumpkit("symbolize", str(trace))
    assert_no_traceback(out)
    assert out.returncode == 0 and "a.dll" in out.stderr


def test_module_index_leaves_out_modules_outside_the_address_space():
    inside = Module(0x400000, 0x1000, "ok.dll")
    outside = [Module(*PAST_THE_END, "wrap.dll"), Module(-1, 10, "neg.dll"),
               Module(1 << 64, 1, "huge.dll")]
    index = ModuleIndex([inside, *outside])
    assert index.modules == [inside] and index.dropped == outside
    assert index.find(0x400010) is inside
