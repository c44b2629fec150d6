"""`symbolize --json` streams: results reach stdout while input is still arriving, so memory
does not grow with the input (issue 12: 1M lines built in memory took 3.8 GB)."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from toolkit.symbols.symbolize import CHUNK


def _dumpkit() -> list:
    exe = Path(sys.executable).with_name("dumpkit")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "toolkit"]


def _read_until(proc, needle: bytes, count: int, limit_s: float = 120.0) -> bytes:
    seen = b""
    fd = proc.stdout.fileno()
    while seen.count(needle) < count:
        ready, _, _ = select.select([fd], [], [], limit_s)
        if not ready:
            break
        piece = os.read(fd, 1 << 16)
        if not piece:
            break
        seen += piece
    return seen


@pytest.mark.parametrize("flag", ["--json", "--jsonl"])
def test_results_appear_before_the_input_ends(tmp_path, flag):
    env = dict(os.environ, DUMPKIT_SYMBOL_CACHE=str(tmp_path / "cache"))
    env.pop("_NT_SYMBOL_PATH", None)
    proc = subprocess.Popen(_dumpkit() + ["symbolize", flag, "-y", str(tmp_path / "store")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env)
    release = threading.Event()

    def feed():
        proc.stdin.write(b"app.exe+0x1000\n" * (CHUNK + 100))   # more than one chunk
        proc.stdin.flush()
        release.wait(150)          # keep stdin open until the reader has seen output
        proc.stdin.close()

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        early = _read_until(proc, b'"input_line"', 1000)
        assert early.count(b'"input_line"') >= 1000, "no output while the input was open"
    finally:
        release.set()
    rest, _ = proc.communicate(timeout=300)
    writer.join()
    text = (early + rest).decode()
    if flag == "--json":
        doc = json.loads(text)
        assert doc["command"] == "symbolize" and len(doc["results"]) == CHUNK + 100
    else:
        assert len(text.splitlines()) == CHUNK + 100


def test_pretty_indents_the_same_document(tmp_path):
    env = dict(os.environ, DUMPKIT_SYMBOL_CACHE=str(tmp_path / "cache"))
    args = _dumpkit() + ["symbolize", "-y", str(tmp_path / "store"), "--json"]
    compact = subprocess.run(args, input=b"app.exe+0x10\nbad\n", capture_output=True,
                             env=env, check=True).stdout
    pretty = subprocess.run(args + ["--pretty"], input=b"app.exe+0x10\nbad\n",
                            capture_output=True, env=env, check=True).stdout
    assert b"\n" not in compact.rstrip(b"\n") and b'\n  "results": [\n' in pretty
    assert json.loads(compact) == json.loads(pretty)
