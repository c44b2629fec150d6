"""``dumpkit stack``: k-like text, JSON with schema_version, errors as one line + exit 2."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from commands.cli import cli
from tests.conftest import corpus_path

pytest.importorskip("symbolic")


def run(*args):
    return CliRunner().invoke(cli, ["stack", *args])


def test_text_output_lists_frames_like_k_with_trust(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    result = run(str(corpus_path("breakpad/processor/minidump2.dmp")), "-y",
                 str(corpus_path("breakpad/processor/symbols")))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1].split()[:4] == ["#", "ChildEBP", "RetAddr", "Trust"]
    assert lines[2].startswith("00 0012fe84 00404200 context")
    assert "test_app!main+0x50 [c:\\test_app.cc @ 65]" in lines[3]
    assert "(walk ended: ip_too_low)" in result.output


def test_json_has_schema_version_frames_and_end_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    result = run(str(corpus_path("breakpad/processor/minidump2.dmp")), "--all-threads",
                 "--json", "-y", str(corpus_path("breakpad/processor/symbols")))
    doc = json.loads(result.output)
    assert doc["schema_version"] >= 1 and doc["command"] == "stack"
    assert len(doc["threads"]) == 2
    first = doc["threads"][0]["frames"]
    assert [f["trust"] for f in first] == ["context", "cfi", "cfi", "cfi"]
    assert first[0]["ip"] == "0x0040429e" and first[0]["return_address"] == "0x00404200"
    assert all(t["end_reason"] != "none" for t in doc["threads"])


def test_unknown_thread_is_a_usage_error():
    result = run(str(corpus_path("breakpad/processor/minidump2.dmp")), "--thread", "0x1")
    assert result.exit_code == 2 and "no thread" in result.output


def test_not_a_dump_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "x.dmp"
    bad.write_bytes(b"nope")
    result = run(str(bad))
    assert result.exit_code == 2 and "InputError" in result.output
