"""The kernel-session path: ``dumpkit deadlock`` inside kd with no INPUT runs ``!process 0 7``
(or ``--command``) through ``dbgCommand`` and reports what the transcript builder reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pykd_support import json_of, load_standin, run_in_debugger

TRANSCRIPTS = Path(__file__).resolve().parents[1] / "waitgraph_transcripts"


def transcripts():
    found = sorted(TRANSCRIPTS.glob("*.txt"))
    if not found:
        pytest.skip("tests/waitgraph_transcripts holds no transcripts")
    return [pytest.param(p, id=p.stem) for p in found]


def builder_report(text: str, source: str) -> dict:
    from toolkit.waitgraph.builders.transcript import build_from_text
    from toolkit.waitgraph.inputs import report_for_graphs
    return json.loads(json.dumps(report_for_graphs([build_from_text(text, source)]).to_json()))


@pytest.mark.parametrize("transcript", transcripts())
def test_kd_deadlock_reports_what_the_transcript_builder_reports(transcript: Path) -> None:
    text = transcript.read_text(encoding="utf-8")
    pykd = load_standin()
    pykd._standin_open(None, kernel=True, commands={"!process 0 7": text})
    code, out, _ = run_in_debugger(pykd, ["deadlock", "--json"])
    assert code == 0
    doc = json_of(out)
    doc.pop("schema_version"), doc.pop("command")
    assert doc == builder_report(text, "dbgCommand(!process 0 7)")
    assert pykd._standin_calls() == ["!process 0 7"]


def test_kd_deadlock_finds_the_debugger_debuggee_deadlock_live() -> None:
    path = TRANSCRIPTS / "debugger_deadlock.txt"
    if not path.exists():
        pytest.skip("debugger_deadlock.txt absent")
    pykd = load_standin()
    pykd._standin_open(None, kernel=True, commands={"!process 0 7": path.read_text("utf-8")})
    _, out, _ = run_in_debugger(pykd, ["deadlock", "--json"])
    assert json_of(out)["summary"]["deadlocks"] >= 1


def test_deadlock_command_option_runs_the_given_command() -> None:
    path = TRANSCRIPTS / "debugger_deadlock.txt"
    if not path.exists():
        pytest.skip("debugger_deadlock.txt absent")
    pykd = load_standin()
    pykd._standin_open(None, kernel=True, commands={"!process 0 17": path.read_text("utf-8")})
    code, _, _ = run_in_debugger(pykd, ["deadlock", "--json", "--command", "!process 0 17"])
    assert code == 0
    assert pykd._standin_calls() == ["!process 0 17"]


def test_deadlock_without_input_outside_a_debugger_is_a_usage_error() -> None:
    from pykd_support import run_cli
    code, _ = run_cli(["deadlock"])
    assert code == 2
