"""`dumpkit deadlock`: text, JSON, --dot, and clean errors for unusable inputs."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from commands.cli import cli

HERE = Path(__file__).resolve().parents[1] / "waitgraph_transcripts"
CASE = str(HERE / "debugger_deadlock.txt")


def test_text_reads_like_wait_chain_traversal():
    result = CliRunner().invoke(cli, ["deadlock", "--no-evidence", CASE])
    assert result.exit_code == 0, result.output
    cycle_line = next(l for l in result.output.splitlines() if "[CYCLE]" in l)
    assert cycle_line.strip().startswith("1. thread ")
    assert 'waits for Mutant "WininetProxyRegistryMutex"' in cycle_line
    assert "owned by thread 1a2c.1b40 (stackcapture.exe) which waits for DebugPort" in cycle_line


def test_json_has_schema_version_and_the_deadlock():
    result = CliRunner().invoke(cli, ["deadlock", "--json", CASE])
    doc = json.loads(result.output)
    assert doc["schema_version"] >= 1 and doc["command"] == "deadlock"
    assert doc["summary"]["deadlocks"] == 1 and doc["summary"]["blocked_chains"] == 1
    mutex = next(h["node"] for h in doc["deadlocks"][0]["cycle"] if h["node"].get("kind") == "mutant")
    assert mutex["address"] == "0xffffe0000a8e3b60"


def test_dot_option_writes_a_digraph(tmp_path):
    target = tmp_path / "g.dot"
    result = CliRunner().invoke(cli, ["deadlock", "--dot", str(target), CASE])
    assert result.exit_code == 0
    assert target.read_text().startswith("digraph waitgraph {")


def test_binary_input_is_a_one_line_error(tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01\x02garbage")
    result = CliRunner().invoke(cli, ["deadlock", str(junk)])
    assert result.exit_code == 2
    assert result.output.count("\n") <= 1 and "InputError" in result.output


def test_missing_input_is_a_one_line_error(tmp_path):
    result = CliRunner().invoke(cli, ["deadlock", str(tmp_path / "absent.txt")])
    assert result.exit_code == 2


# -- dump inputs (the shipped Wine samples; facts from samples/EXPECTED.json) -------------------

def _sample_facts(name: str) -> dict:
    from tests.conftest import SAMPLES
    return json.loads((SAMPLES / "EXPECTED.json").read_text())["dumps"]["dumps/" + name]


def test_dump_input_prints_the_critical_section_cycle():
    from tests.conftest import SAMPLES
    name = "deadlock_cs_x86-full-trim-cv.dmp"
    result = CliRunner().invoke(cli, ["deadlock", str(SAMPLES / "dumps" / name),
                                      "-y", str(SAMPLES / "bin"), "--no-evidence"])
    assert result.exit_code == 0, result.output
    cycle_line = next(l for l in result.output.splitlines() if "[CYCLE]" in l)
    for cs in _sample_facts(name)["critical_sections"]:
        assert f"CriticalSection {int(cs['address'], 16):x} owned by thread " \
               f"{_sample_facts(name)['pid']:x}.{cs['owner_tid']:x}" in cycle_line


def _handle_transcript(facts: dict) -> str:
    """`!handle <h> f` output as WinDbg prints it, from the program's own report of the owners."""
    out = []
    for m in facts["mutexes"]:
        out += [f"0:000> !handle {int(m['handle'], 16):x} f", f"Handle {int(m['handle'], 16):x}",
                "  Type         \tMutant", f"  Name         \t{m['object_name']}",
                "  Object Specific Information", "    Mutex is Owned",
                f"    Mutant Owner {m['owner_pid']:x}.{m['owner_tid']:x}"]
    return "\n".join(out) + "\n"


def test_a_dump_and_a_transcript_merge_into_one_graph(tmp_path):
    from tests.conftest import SAMPLES
    name = "deadlock_mutex_x86-normal.dmp"      # waits from the stacks, no handle data
    facts = _sample_facts(name)
    text = tmp_path / "handles.txt"
    text.write_text(_handle_transcript(facts))
    dump = str(SAMPLES / "dumps" / name)
    alone = CliRunner().invoke(cli, ["deadlock", "--json", dump, "-y", str(SAMPLES / "bin")])
    assert json.loads(alone.output)["summary"]["deadlocks"] == 0
    result = CliRunner().invoke(cli, ["deadlock", "--json", dump, str(text),
                                      "-y", str(SAMPLES / "bin")])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["summary"]["deadlocks"] == 1
    threads = sorted(h["node"]["tid"] for h in doc["deadlocks"][0]["cycle"]
                     if h["node"]["node"] == "thread")
    assert threads == sorted(m["owner_tid"] for m in facts["mutexes"])
