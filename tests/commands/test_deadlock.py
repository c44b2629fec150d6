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
