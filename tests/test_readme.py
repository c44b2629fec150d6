"""README.md is a promise: its commands exist, its sample exists, CI runs its test command."""

from __future__ import annotations

import re

from commands.cli import COMMANDS
from conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
SETUP = re.findall(r"```sh\n(python3 -m venv[^\n]+)\n```", README)


def test_readme_has_the_two_setup_commands():
    assert len(SETUP) == 2
    assert "dumpkit triage samples/" in SETUP[0]           # the main job, on the shipped samples
    assert "pytest" in SETUP[1]


def test_ci_runs_both_readme_setup_commands_verbatim():
    ci = [line.strip() for line in (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    assert SETUP[0] in ci
    assert SETUP[1] in ci


def test_the_samples_named_in_the_setup_command_are_shipped():
    samples = re.search(r"dumpkit triage (samples/\S+)", SETUP[0]).group(1)
    assert any(path.suffix == ".dmp" for path in (REPO / samples).iterdir())


def test_every_command_has_an_example():
    for name, _, _ in COMMANDS:
        assert re.search(rf"^dumpkit {re.escape(name)} ", README, re.M), name


def test_the_library_example_runs_as_printed(monkeypatch, capsys):
    example = re.search(r"## Library\n\n```python\n(.*?)```", README, re.S).group(1)
    monkeypatch.chdir(REPO)
    exec(compile(example, "README.md", "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("seh_x86") and len(lines[-1]) == 24   # 12 bytes of the TEB in hex
