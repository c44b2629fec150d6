"""The installed `dumpkit` console script, run as a real process."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from conftest import SAMPLES, dumpkit_script

SAMPLE = str(SAMPLES / "dumps" / "seh_x86-full-trim-cv.dmp")


def _dumpkit() -> list:
    return [str(dumpkit_script())]


def test_python_dash_m_toolkit_runs_the_same_cli():
    out = subprocess.run([sys.executable, "-m", "toolkit", "info", SAMPLE],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "seh_x86.exe" in out.stdout


def test_missing_file_is_one_line_and_exit_2(tmp_path):
    out = subprocess.run(_dumpkit() + ["info", str(tmp_path / "nope.dmp")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1
    assert "Traceback" not in out.stderr


def test_garbage_file_is_one_line_and_exit_2(tmp_path):
    junk = tmp_path / "junk.dmp"
    junk.write_bytes(b"MDMP" + b"\xff" * 60)
    out = subprocess.run(_dumpkit() + ["info", str(junk)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(sys.platform == "win32", reason="uses a POSIX pipe into head")
def test_a_reader_that_leaves_early_gets_no_traceback(tmp_path):
    # 100k result lines: far more than a pipe buffer, so the writer meets EPIPE.
    addresses = tmp_path / "addresses.txt"
    addresses.write_text("0x401024\n" * 100000)
    cmd = " ".join(_dumpkit()) + f" symbolize {addresses} --dump {SAMPLE} | head -n 1"
    out = subprocess.run(["sh", "-c", cmd + " >/dev/null"], capture_output=True, text=True,
                         timeout=120)
    assert "Traceback" not in out.stderr and "Error" not in out.stderr


def test_text_is_plain_when_stdout_is_not_a_terminal():
    out = subprocess.run(_dumpkit() + ["exchain", str(SAMPLES / "dumps" / "seh_x86-full-trim-cv.dmp"),
                                       "-y", str(SAMPLES / "bin")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "valid" in out.stdout
    assert "\x1b[" not in out.stdout


@pytest.mark.skipif(sys.platform == "win32" or not shutil.which("script"),
                    reason="needs util-linux script(1) for a pseudo-terminal")
def test_verdicts_are_coloured_on_a_terminal():
    cmd = " ".join(_dumpkit() + ["exchain", str(SAMPLES / "dumps" / "seh_x86-full-trim-cv.dmp"),
                                 "-y", str(SAMPLES / "bin")])
    out = subprocess.run(["script", "-qc", cmd, "/dev/null"], capture_output=True, text=True,
                         timeout=120)
    assert "\x1b[32mvalid\x1b[0m" in out.stdout
