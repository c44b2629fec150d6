"""stack, scan, exchain and deadlock say which modules on the walk had symbols, from where, a
refused id, or none (issue 11 item 9): a ``*** <status> symbols for <module>: ...`` line per
module on stderr, a ``symbols`` array in JSON (toolkit/triage/symbol_status.py, as analyze)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SAMPLES

pytest.importorskip("symbolic")

BIN = Path(sys.executable).parent
CRASH = SAMPLES / "dumps" / "crash_x64-full-trim-cv.dmp"
SEH = SAMPLES / "dumps" / "seh_x86-full-trim-cv.dmp"
DEADLOCK = SAMPLES / "dumps" / "deadlock_cs_x86-full-trim-cv.dmp"


def dumpkit(tmp_path, *args):
    """The installed script with a fresh symbol cache (XDG_CACHE_HOME): the symbol path decides."""
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"), _NT_SYMBOL_PATH="")
    exe = BIN / "dumpkit"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "toolkit"]
    out = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode in (0, 1), out.stderr
    return out


def symbols_of(out):
    return {s["module"]: s for s in json.loads(out.stdout)["symbols"]}


@pytest.mark.parametrize("command, dump", [("stack", CRASH), ("scan", CRASH), ("exchain", SEH),
                                           ("deadlock", DEADLOCK)])
def test_json_lists_each_module_with_where_its_symbols_came_from(tmp_path, command, dump):
    stem = dump.name.split("-")[0]
    found = symbols_of(dumpkit(tmp_path, command, "--json", "-y", str(SAMPLES / "bin"), str(dump)))
    own = found[stem + ".exe"]
    assert own["status"] == "exact" and own["kind"] == "pdb"
    assert Path(own["source"]).name.lower().startswith(stem)
    assert any(s["status"] == "missing" and s["reason"] for s in found.values())


@pytest.mark.parametrize("command, dump", [("stack", CRASH), ("scan", CRASH), ("exchain", SEH),
                                           ("deadlock", DEADLOCK)])
def test_text_prints_one_summary_line_per_module_on_stderr(tmp_path, command, dump):
    stem = dump.name.split("-")[0]
    out = dumpkit(tmp_path, command, "-y", str(SAMPLES / "bin"), str(dump))
    lines = [line for line in out.stderr.splitlines() if line.startswith("*** ")]
    assert any(line.startswith(f"*** exact symbols for {stem}.exe: ") for line in lines)
    assert any(line.startswith("*** missing symbols for ") for line in lines)
    modules = [line.split(" symbols for ", 1)[1].split(":", 1)[0] for line in lines]
    assert len(modules) == len(set(modules))
    assert "*** " not in out.stdout


def test_a_pdb_of_another_id_is_reported_as_id_mismatch(tmp_path):
    wrong = tmp_path / "syms"
    wrong.mkdir()
    shutil.copyfile(SAMPLES / "bin" / "seh_x86.pdb", wrong / "crash_x64.pdb")
    own = symbols_of(dumpkit(tmp_path, "stack", "--json", "-y", str(wrong), str(CRASH)))
    assert own["crash_x64.exe"]["status"] == "id_mismatch"
    assert "crash_x64.pdb: carries" in own["crash_x64.exe"]["reason"]
