"""Dumps come from untrusted machines: a corrupted dump never makes a command crash.

Each case flips a few random bytes (fixed seeds) of a shipped sample, so headers, stream data,
stacks, TEBs and code bytes all get hit across the cases. Every command must either finish
(exit 0/1) or refuse with its one-line error (exit 2); any other exception is a bug.
"""

from __future__ import annotations

import random

import pytest
from click.testing import CliRunner

from commands.cli import cli
from conftest import SAMPLES

DUMPS = sorted(p.name for p in (SAMPLES / "dumps").iterdir())
BIN = str(SAMPLES / "bin")
COMMANDS = {
    "info": ["info"],
    "debugdir": ["debugdir"],
    "stack": ["stack", "--all-threads", "-y", BIN],
    "scan": ["scan"],
    "exchain": ["exchain", "--all-threads", "-y", BIN],
    "deadlock": ["deadlock", "-y", BIN],
    "patch-check": ["patch-check", "--range", "seh_x86.exe+0x1000-0x1100"],
    "symbolize": ["symbolize", "-y", BIN, "--dump"],
}


def corrupted_copy(tmp_path, seed: int) -> str:
    rng = random.Random(seed)
    name = rng.choice(DUMPS)
    data = bytearray((SAMPLES / "dumps" / name).read_bytes())
    for _ in range(rng.choice([1, 4, 16, 64])):
        data[rng.randrange(len(data))] = rng.randrange(256)
    path = tmp_path / f"{seed}-{name}"
    path.write_bytes(bytes(data))
    return str(path)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_corrupted_sample_dumps_never_crash_a_command(tmp_path, command):
    runner = CliRunner()
    for seed in range(12):
        path = corrupted_copy(tmp_path, seed)
        result = runner.invoke(cli, COMMANDS[command] + [path], input="0x401024\n0x7bc0c51c\n")
        assert result.exception is None or isinstance(result.exception, SystemExit), \
            f"seed {seed}: {type(result.exception).__name__}: {result.exception}"
        assert result.exit_code in (0, 1, 2)
