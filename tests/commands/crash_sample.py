"""The x64 crash sample (samples/dumps/crash_x64-normal.dmp, symbols in samples/bin) run through
one CLI command, shared by the scan and patch-check command tests."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from commands.cli import cli
from tests.conftest import SAMPLES

CRASH = SAMPLES / "dumps/crash_x64-normal.dmp"


@pytest.fixture(autouse=True)
def need_crash_sample(tmp_path, monkeypatch):
    """Skip when the sample is not built; keep symbol caches out of the user's home."""
    if not CRASH.is_file():
        pytest.skip("crash_x64-normal.dmp not built")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))


def run_on_crash(command: str, *args: str):
    return CliRunner().invoke(cli, [command, str(CRASH), "-y", str(SAMPLES / "bin"), *args])
