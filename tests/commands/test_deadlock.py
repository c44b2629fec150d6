"""`dumpkit deadlock`: text, JSON, --dot, and clean errors for unusable inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
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


def _per_path(output):
    """Evidence lines grouped by the numbered path they follow."""
    paths, current = [], None
    for line in output.splitlines():
        if line.startswith("  ") and line.strip()[:1].isdigit() and ". " in line:
            current = []
            paths.append(current)
        elif line.startswith("       ") and current is not None:
            current.append(line.strip())
        elif not line.startswith("       "):
            current = None
    return paths


def test_each_evidence_line_is_printed_once_per_path():
    result = CliRunner().invoke(cli, ["deadlock", CASE])
    paths = _per_path(result.output)
    assert len(paths) == 2 and all(len(p) == len(set(p)) for p in paths)
    cycle = paths[0]
    assert sum(":58: " in line for line in cycle) == 1     # the wait line that names the owner


def test_driver_verifier_lock_order_lines_are_cited_once(corpus):
    result = CliRunner().invoke(cli, ["deadlock", str(corpus / "transcripts/msdocs/-deadlock.md")])
    paths = _per_path(result.output)
    assert len(paths) == 2 and all(len(p) == 2 == len(set(p)) for p in paths)


def _self_owned_mutant(tmp_path):
    """The real windbg.exe process of debugger_deadlock.txt, its mutant wait re-pointed at its
    own KTHREAD: a thread waiting on a mutant it already owns."""
    lines = Path(CASE).read_text().splitlines()[:100]
    assert "owning thread ffffe0000b3c5880" in lines[57]
    lines[57] = lines[57].replace("ffffe0000b3c5880", "ffffe0000c07a880")
    assert lines[56].split()[:2] == ["THREAD", "ffffe0000c07a880"]
    path = tmp_path / "self_owned_mutant.txt"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_waiting_on_a_mutant_the_thread_owns_is_no_cycle(tmp_path):
    result = CliRunner().invoke(cli, ["deadlock", _self_owned_mutant(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "[CYCLE]" not in result.output and "Deadlocks: 0" in result.output
    assert "waitgraph.owner_waits_on_own_lock: thread f10.11c8 waits for Mutant" in result.output


def test_self_owned_mutant_wait_is_a_problem_in_json(tmp_path):
    doc = json.loads(CliRunner().invoke(cli, ["deadlock", "--json",
                                              _self_owned_mutant(tmp_path)]).output)
    assert doc["summary"]["deadlocks"] == 0 and doc["deadlocks"] == []
    assert [p["code"] for p in doc["problems"]] == ["waitgraph.owner_waits_on_own_lock"]


def _cs_owned_by_its_waiter(tmp_path) -> str:
    """deadlock_cs_x86 with g_cs_alpha's OwningThread rewritten to beta, the thread that waits
    for it: beta then waits on a critical section it owns (re-entry, which never blocks)."""
    from tests.conftest import SAMPLES
    from toolkit.targets.open import open_target
    name = "deadlock_cs_x86-full-trim-cv.dmp"
    alpha = next(cs for cs in _sample_facts(name)["critical_sections"]
                 if cs["name"] == "g_cs_alpha")
    beta = alpha["waiting_tids"][0]
    data = bytearray((SAMPLES / "dumps" / name).read_bytes())
    with open_target(SAMPLES / "dumps" / name) as target:
        cs = target.read(int(alpha["address"], 16), 24)     # RTL_CRITICAL_SECTION (x86)
    at = data.find(cs)
    assert at > 0 and data.find(cs, at + 1) < 0
    assert int.from_bytes(cs[12:16], "little") == alpha["owner_tid"]    # +0x0C OwningThread
    data[at + 12:at + 16] = beta.to_bytes(4, "little")
    path = tmp_path / name
    path.write_bytes(bytes(data))
    return str(path)


def test_dump_thread_waiting_on_a_critical_section_it_owns_is_no_cycle(tmp_path):
    from tests.conftest import SAMPLES
    result = CliRunner().invoke(cli, ["deadlock", "--json", _cs_owned_by_its_waiter(tmp_path),
                                      "-y", str(SAMPLES / "bin")])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["summary"]["deadlocks"] == 0
    problem = next(p for p in doc["problems"] if p["code"] == "waitgraph.owner_waits_on_own_lock")
    assert "20.e8 waits for CriticalSection 40300c" in problem["message"]
    (chain,) = doc["blocked_chains"]          # alpha still waits for beta's lock
    assert chain["head"]["tid"] == 228 and chain["path"][-1]["node"]["tid"] == 232


@pytest.mark.parametrize("name", ["deadlock_cs_x86-full-trim-cv.dmp",
                                  "deadlock_cs_x64-full-trim-cv.dmp",
                                  "deadlock_mutex_x86-full-trim-cv-handles.dmp",
                                  "deadlock_mutex_x64-full-trim-cv-handles.dmp"])
def test_each_evidence_line_is_printed_once_per_path_on_the_sample_dumps(name, tmp_path,
                                                                         monkeypatch):
    from tests.conftest import SAMPLES
    monkeypatch.setenv("DUMPKIT_SYMBOL_CACHE", str(tmp_path / "cache"))
    result = CliRunner().invoke(cli, ["deadlock", str(SAMPLES / "dumps" / name),
                                      "-y", str(SAMPLES / "bin")])
    assert result.exit_code == 0, result.output
    paths = _per_path(result.output)
    assert paths and all(p and len(p) == len(set(p)) for p in paths)
