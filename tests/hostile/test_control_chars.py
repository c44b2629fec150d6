"""Control characters from inputs never reach the terminal raw (issue 12): every text line goes
through ``commands.output.escape_controls``, so a NUL, ESC or newline in a dump string shows as
``\\x00``/``\\x1b``/``\\x0a`` and one value stays on one line."""

from __future__ import annotations

import json
import re

from commands.output import escape_controls
from tests.hostile.hostile_inputs import SAMPLE_X64, run_dumpkit, with_module_name_chars
from toolkit.targets.trace import TraceModule, write_trace

HOSTILE = "\x00\x1b[2J\nX\r\u202e"
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]")     # \n ends lines, tab is fine


def test_escape_controls_writes_each_control_as_a_visible_escape():
    assert escape_controls("a" + HOSTILE + "\tb") == "a\\x00\\x1b[2J\\x0aX\\x0d\\u202e\tb"


def test_escape_controls_leaves_plain_text_alone():
    assert escape_controls("ntdll.dll!RtlUserThreadStart+0x21") == \
        "ntdll.dll!RtlUserThreadStart+0x21"


def test_info_prints_a_module_name_with_controls_escaped_on_one_line(tmp_path):
    dump = tmp_path / "controls.dmp"
    dump.write_bytes(with_module_name_chars(SAMPLE_X64.read_bytes(), 0, HOSTILE))
    out = run_dumpkit("info", str(dump))
    assert out.returncode == 0, out.stderr
    assert not RAW.search(out.stdout)
    assert [line for line in out.stdout.splitlines() if "\\x1b[2J\\x0aX" in line]


def test_trace_show_escapes_module_names(tmp_path):
    trace = tmp_path / "controls.trace"
    write_trace(trace, [TraceModule("a" + HOSTILE + ".dll", 0x400000, 0x1000, 0, 0x1000)])
    out = run_dumpkit("trace", "show", str(trace))
    assert out.returncode == 0, out.stderr
    assert not RAW.search(out.stdout) and "a\\x00\\x1b[2J\\x0aX" in out.stdout


def test_error_line_naming_an_input_string_stays_one_escaped_line(tmp_path):
    table = tmp_path / "modules.json"
    table.write_text(json.dumps([{"name": "b" + HOSTILE, "base": -1, "size": 1}]))
    out = run_dumpkit("symbolize", "--modules", str(table), stdin="0x1\n")
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1
    assert not RAW.search(out.stderr) and "b\\x00\\x1b[2J\\x0aX" in out.stderr
