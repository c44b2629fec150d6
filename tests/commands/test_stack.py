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
    assert lines[2].startswith("00 0012fe88 00404200 context")
    assert "test_app!main+0x50 [c:\\test_app.cc @ 65]" in lines[3]
    assert "(walk ended: return address 0 or below 0x1000)" in result.output


def test_x86_childebp_column_is_each_frames_ebp_as_breakpad_recovered_it(tmp_path, monkeypatch):
    # WinDbg's k prints the frame's EBP under ChildEBP (ESP was shown there before)
    from tests.toolkit.stackwalk.test_walker_corpus import parse_stackwalk_out
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    expected = parse_stackwalk_out(
        corpus_path("breakpad/processor/minidump2.stackwalk.out").read_text())
    result = run(str(corpus_path("breakpad/processor/minidump2.dmp")), "-y",
                 str(corpus_path("breakpad/processor/symbols")))
    rows = [line.split() for line in result.output.splitlines()[2:2 + len(expected)]]
    assert [int(row[1], 16) for row in rows] == [want["ebp"] for want in expected]
    assert any(want["ebp"] != want["esp"] for want in expected)


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


def test_header_names_the_thread_from_the_thread_names_stream():
    result = run(str(corpus_path("breakpad/processor/thread_name_list.dmp")), "--all-threads")
    assert result.exit_code == 0, result.output
    headers = [line for line in result.output.splitlines() if line.startswith("Thread ")]
    assert headers[0] == 'Thread ~0 6564 (0x19a4) "main thread", context: thread'
    assert headers[1] == "Thread ~1 3296 (0xce0), context: thread"     # a thread without a name
    assert headers[5].startswith('Thread ~5 10976 (0x2ae0) "overflow thread"')


def test_json_carries_thread_name_index_and_end_reason_text():
    result = run(str(corpus_path("breakpad/processor/thread_name_list.dmp")), "~*", "--json")
    threads = json.loads(result.output)["threads"]
    assert [(t["index"], t["name"]) for t in threads][:2] == [(0, "main thread"), (1, None)]
    assert threads[1]["end_reason"] == "ip_too_low"
    assert threads[1]["end_reason_text"] == "return address 0 or below 0x1000"


def test_tilde_index_selects_the_nth_thread_like_windbg():
    dump = str(corpus_path("breakpad/processor/thread_name_list.dmp"))
    result = run(dump, "~4", "~0", "--json")
    assert [t["tid"] for t in json.loads(result.output)["threads"]] == [6564, 8820]
    by_option = run(dump, "--thread", "~4", "--json")
    assert [t["name"] for t in json.loads(by_option.output)["threads"]] == ["sleep thread"]


def test_tilde_index_past_the_last_thread_is_a_usage_error():
    result = run(str(corpus_path("breakpad/processor/thread_name_list.dmp")), "~6")
    assert result.exit_code == 2 and "~0 to ~5" in result.output


def test_end_reason_is_words_not_a_code_in_text():
    result = run(str(corpus_path("breakpad/processor/thread_name_list.dmp")), "~*")
    ends = [line for line in result.output.splitlines() if line.startswith("(walk ended:")]
    assert len(ends) == 6 and not any("_" in line for line in ends)
