"""Hostile input never crashes ``dumpkit analyze``: byte-flipped samples finish or refuse in one
line (exit 0/1/2), and the corpus's non-Windows, kernel and malformed dumps refuse in one line."""

from __future__ import annotations

import random

import pytest
from click.testing import CliRunner

from commands.cli import cli
from conftest import SAMPLES
from tests.conftest import corpus_path
from tests.corpus.test_all_dumps import KERNEL, MALFORMED, NON_WINDOWS

DUMPS = sorted(p.name for p in (SAMPLES / "dumps").iterdir())


def corrupted_copy(tmp_path, seed: int) -> str:
    rng = random.Random(1000 + seed)
    name = rng.choice(DUMPS)
    data = bytearray((SAMPLES / "dumps" / name).read_bytes())
    for _ in range(rng.choice([1, 4, 16, 64, 256])):
        data[rng.randrange(len(data))] = rng.randrange(256)
    path = tmp_path / f"{seed}-{name}"
    path.write_bytes(bytes(data))
    return str(path)


@pytest.mark.parametrize("fmt", ["--json", "--format=minidump-stackwalk", "--format=text"])
def test_corrupted_sample_dumps_never_crash_analyze(tmp_path, fmt):
    runner = CliRunner()
    for seed in range(16):
        path = corrupted_copy(tmp_path, seed)
        result = runner.invoke(cli, ["analyze", fmt, "-y", str(SAMPLES / "bin"), path])
        assert result.exception is None or isinstance(result.exception, SystemExit), \
            f"seed {seed}: {type(result.exception).__name__}: {result.exception}"
        assert result.exit_code in (0, 1, 2)


@pytest.mark.parametrize("rel", sorted(NON_WINDOWS | KERNEL | MALFORMED))
def test_foreign_or_malformed_corpus_dump_is_refused_in_one_line(rel):
    result = CliRunner().invoke(cli, ["analyze", str(corpus_path(rel))])
    assert result.exit_code == 2
    lines = [l for l in result.output.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].split(":")[0].endswith(("Error", "Target", "Input",
                                                                "Stream"))
