"""The tests that run the installed ``dumpkit`` script find it beside the interpreter, not on
PATH (issue 12: three tests skipped with "console script not installed" on a CI that had
installed it, because the README runs ``.venv/bin/python -m pytest`` without activating the
venv). Wherever dumpkit is installed with its console script, the lookup must not skip."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import dumpkit_script
from tests.hostile.hostile_inputs import dumpkit_command


def _declares_the_script() -> bool:
    try:
        dist = importlib.metadata.distribution("dumpkit")
    except importlib.metadata.PackageNotFoundError:
        return False
    return any(ep.name == "dumpkit" and ep.group == "console_scripts"
               for ep in dist.entry_points)


def test_an_installed_script_is_found_beside_the_interpreter_with_the_venv_off_path(monkeypatch):
    if not _declares_the_script():
        pytest.skip("dumpkit is not installed as a distribution here")
    monkeypatch.setenv("PATH", os.defpath)
    exe = dumpkit_script()
    assert exe.parent == Path(sys.executable).parent
    assert dumpkit_command() == [str(exe)]
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("dumpkit"), out.stderr
