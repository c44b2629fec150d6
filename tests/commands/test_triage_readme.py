"""The README's `dumpkit triage` examples run as printed on the shipped samples (in a scratch
directory holding a link to samples/, so the default database lands there), and the first
one prints the summary line the README shows."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
SECTION = re.search(r"### `dumpkit triage PATH\.\.\.`.*?(?=\n### |\n## )", README, re.S).group(0)
EXAMPLES = re.search(r"```sh\n(.*?)```", SECTION, re.S).group(1)
SHOWN = re.search(r"\n```\n(\d+ dumps: .*?)```", SECTION, re.S).group(1)


def _run(command: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=str(cwd), env=env,
                          capture_output=True, text=True, timeout=600)


def test_every_triage_example_runs(tmp_path):
    (tmp_path / "samples").symlink_to(REPO / "samples")
    commands = EXAMPLES.replace("\\\n", " ").strip().splitlines()
    assert len(commands) >= 4
    for command in commands:
        out = _run(command, tmp_path)
        assert out.returncode == 0, (command, out.stderr)
        assert out.stdout.strip(), command


def test_the_first_example_prints_the_summary_shown(tmp_path):
    (tmp_path / "samples").symlink_to(REPO / "samples")
    out = _run(EXAMPLES.strip().splitlines()[0], tmp_path)
    assert out.stdout.splitlines()[0] == SHOWN.strip()
