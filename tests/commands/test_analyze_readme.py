"""The README's `dumpkit analyze` examples run as printed on the shipped samples, and the sample
output it shows is what the first example prints."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
SECTION = re.search(r"### `dumpkit analyze DUMP`.*?(?=\n### |\n## )", README, re.S).group(0)
EXAMPLES = re.search(r"```sh\n(.*?)```", SECTION, re.S).group(1)
SHOWN = re.search(r"\n```\n(FAILURE_BUCKET_ID:.*?)```", SECTION, re.S).group(1)


def _run(command: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def test_every_analyze_example_runs():
    commands = EXAMPLES.replace("\\\n", " ").strip().splitlines()
    assert len(commands) >= 4
    for command in commands:
        out = _run(command)
        assert out.returncode == 0, (command, out.stderr)
        assert out.stdout.strip(), command


def test_the_shown_output_is_what_the_first_example_prints():
    first = EXAMPLES.strip().splitlines()[0]
    out = _run(first).stdout.splitlines()
    shown = SHOWN.rstrip("\n").splitlines()
    assert out[:len(shown)] == shown
