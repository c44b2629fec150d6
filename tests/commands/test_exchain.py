"""``dumpkit exchain``: text like !exchain with verdicts, JSON, every real x86 dump, bad input."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import List

import pytest
from click.testing import CliRunner

from commands.cli import cli
from tests.cli_runner import split_runner
from tests.conftest import CORPUS, SAMPLES, corpus_path, dumpkit_script
from tests.toolkit.seh.wine_dump import WINE_BIN, wine_full_dump
from full_dumps import full_dump
from toolkit.model.errors import DumpkitError
from toolkit.targets.open import open_target
from toolkit.model.target import Arch


@pytest.fixture(autouse=True)
def private_symbol_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DUMPKIT_SYMBOL_CACHE", str(tmp_path / "symcache"))
    monkeypatch.delenv("_NT_SYMBOL_PATH", raising=False)


def run(*args: str):
    runner = split_runner()
    return runner.invoke(cli, ["exchain", *args])


def x86_dumps() -> List[Path]:
    """Every x86 minidump in the corpus and the samples, found by opening them."""
    found = []
    for root in (CORPUS, SAMPLES / "dumps"):
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*.dmp")):
            try:
                with open_target(path) as target:
                    if target.arch is Arch.X86:
                        found.append(path)
            except (DumpkitError, OSError):
                continue
    return found


X86_DUMPS = x86_dumps()


# ---- the Wine SEH sample ------------------------------------------------------------------
def test_text_reads_like_exchain_with_verdicts_and_the_policy():
    result = run(str(wine_full_dump()), "-y", str(corpus_path(WINE_BIN)))
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert out.startswith("Policy: vista, from the dump's OS version (")   # Wine says 6.1
    assert re.search(r"^0050fa90: crash-i686-nocrt!seh_h3\+0x0 \(00401010\) +valid$", out, re.M)
    assert re.search(r"^0050fad8: crash-i686-nocrt!seh_h1\+0x0 \(00401000\) +valid$", out, re.M)
    assert re.search(r"^0050f530: ntdll\+0x56530 \(7bc56530\) +unverifiable \(NO_TABLE\)$", out,
                     re.M)
    assert re.search(r"^  CRT scope  0, filter: crash-i686-nocrt!\?filt\$0@0@\S+ \(00401100\)$",
                     out, re.M)
    assert "chain verdict (5 records): no rule fails" in out


def test_policy_option_is_printed_with_the_result():
    result = run(str(wine_full_dump()), "--policy", "2003")
    assert result.exit_code == 0 and result.stdout.startswith("Policy: 2003 (")
    assert "SEHOP" not in result.stdout.split("\n", 1)[1]        # no SEHOP rules under 2003


def test_default_policy_follows_the_dumps_os_version_xp_gets_2003():
    result = run(str(corpus_path("breakpad/processor/minidump2.dmp")), "--heuristic", "--json")
    doc = json.loads(result.stdout)
    assert (doc["policy"], doc["policy_source"]) == ("2003", "os_version")    # XP SP2 is 5.1
    (chain,) = doc["chains"]
    assert "SEHOP_FINAL" not in chain["failing"] and chain["chain_rules"] == []


def test_xp_dump_reports_no_sehop_failure_in_text():
    result = run(str(corpus_path("breakpad/processor/minidump2.dmp")), "--heuristic")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("[heuristic] Policy: 2003, from the dump's OS version (")
    assert "SEHOP" not in result.stdout.split("\n", 1)[1] and "INVALID" not in result.stdout


def test_policy_option_overrides_the_os_version():
    result = run(str(corpus_path("breakpad/processor/minidump2.dmp")), "--heuristic",
                 "--policy", "win10", "--json")
    doc = json.loads(result.stdout)
    assert (doc["policy"], doc["policy_source"]) == ("win10", "given")
    assert "SEHOP_FINAL" in doc["chains"][0]["failing"]   # XP's final handler is kernel32's


def test_heuristic_chain_with_nothing_checkable_says_nothing_was_checked():
    dump = str(corpus_path("breakpad/processor/minidump2.dmp"))
    text = run(dump, "--heuristic").stdout
    assert "chain verdict (6 records): nothing checked" in text and "no rule fails" not in text
    assert json.loads(run(dump, "--heuristic", "--json").stdout)["chains"][0]["checked"] is False


def test_a_chain_from_the_teb_with_passing_rules_counts_as_checked():
    doc = json.loads(run(str(wine_full_dump()), "--json").stdout)
    assert doc["chains"][0]["checked"] is True


def test_analyze_and_exchain_pick_the_same_policy_for_one_dump():
    dump = str(corpus_path("breakpad/processor/minidump2.dmp"))
    analyzed = json.loads(CliRunner().invoke(cli, ["analyze", dump, "--json"]).output)
    assert analyzed["seh_policy"] == json.loads(run(dump, "--json").stdout)["policy"] == "2003"


def test_without_symbols_handlers_are_module_offsets():
    result = run(str(wine_full_dump()))
    assert re.search(r"^0050fa90: crash-i686-nocrt\+0x1010 \(00401010\)", result.stdout, re.M)


def test_json_is_one_object_with_padded_addresses():
    result = run(str(wine_full_dump()), "--json", "--policy", "win10", "-y",
                 str(corpus_path(WINE_BIN)))
    doc = json.loads(result.stdout)
    assert doc["schema_version"] == 1 and doc["command"] == "exchain"
    assert doc["policy"] == "win10" and "SEHOP_FINAL" in doc["rules_applied"]
    assert doc["policy_source"] == "given"
    (chain,) = doc["chains"]
    assert chain["source"] == "teb" and chain["head"] == "0x0050f530"
    rec = chain["records"][1]
    assert rec["address"] == "0x0050fa90" and rec["handler"] == "0x00401010"
    assert rec["status"] == "valid" and rec["failing"] == []
    listed = next(r for r in rec["rules"] if r["rule"] == "SAFESEH_LISTED")
    assert listed["outcome"] == "pass" and listed["basis"] == "documented"


def test_thread_option_selects_by_id_hex_or_decimal():
    target = open_target(wine_full_dump())
    tid = target.threads()[0].tid
    for text in (hex(tid), str(tid)):
        doc = json.loads(run(str(wine_full_dump()), "--thread", text, "--json").stdout)
        assert [c["thread_id"] for c in doc["chains"]] == [tid]


# ---- every real x86 dump ----------------------------------------------------------------------
@pytest.mark.parametrize("path", X86_DUMPS, ids=lambda p: p.name)
def test_runs_on_every_x86_dump_and_never_guesses_without_teb_memory(path):
    result = run(str(path), "--all-threads", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    target = open_target(path)
    by_tid = {t.tid: t for t in target.threads()}
    assert sorted(c["thread_id"] for c in doc["chains"]) == sorted(by_tid)
    for chain in doc["chains"]:
        teb = by_tid[chain["thread_id"]].teb
        if teb and target.is_readable(teb, 0x1C):
            assert chain["source"] == "teb"
        else:
            assert chain["source"] is None and chain["records"] == []
            assert "chain head" in chain["note"] and "unknown" in chain["note"]


@pytest.mark.parametrize("path", X86_DUMPS, ids=lambda p: p.name)
def test_heuristic_output_is_labeled_on_every_line(path):
    result = run(str(path), "--heuristic")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    if "chain found by searching the stack" in result.stdout:
        assert all(line.startswith("[heuristic]") for line in lines)


def test_full_deadlock_dump_walks_every_threads_chain():
    path = full_dump("wine/dumps/deadlock-i686-nocrt-ext-full.dmp.xz")
    doc = json.loads(run(str(path), "--all-threads", "--json").stdout)
    assert len(doc["chains"]) == 5
    assert all(c["source"] == "teb" and c["termination"] == "end" for c in doc["chains"])


def test_native_x64_dump_has_nothing_to_analyse():
    result = run(str(corpus_path("wine/dumps/crash-x86_64-nocrt-ext-normal.dmp")))
    assert result.exit_code == 1
    assert "table-based exception handling" in result.stdout


def test_installed_console_script_runs():
    exe = dumpkit_script()
    proc = subprocess.run([exe, "exchain", str(wine_full_dump()), "-y", str(corpus_path(WINE_BIN))],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    assert "crash-i686-nocrt!seh_h1+0x0 (00401000)" in proc.stdout


# ---- bad input ------------------------------------------------------------------------------
def one_line_error(result, name: str):
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{name}: "), result.stderr
    assert "Traceback" not in result.stderr


def test_not_a_dump_is_a_one_line_error(tmp_path):
    bad = tmp_path / "x.dmp"
    bad.write_bytes(b"hello world, not a dump")
    one_line_error(run(str(bad)), "InputError")


def test_empty_and_truncated_dumps_are_one_line_errors(tmp_path):
    empty = tmp_path / "empty.dmp"
    empty.write_bytes(b"")
    one_line_error(run(str(empty)), "InputError")
    cut = tmp_path / "cut.dmp"
    cut.write_bytes(corpus_path("wine/dumps/crash-i686-nocrt-ext-normal.dmp").read_bytes()[:200])
    result = run(str(cut))
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1


def test_missing_file_is_a_one_line_error(tmp_path):
    one_line_error(run(str(tmp_path / "absent.dmp")), "FileNotFoundError")


def test_unknown_thread_is_a_one_line_error():
    one_line_error(run(str(corpus_path("wine/dumps/crash-i686-nocrt-ext-normal.dmp")),
                       "--thread", "0x999999"), "InputError")


def test_thread_option_takes_windbgs_thread_index_like_stack():
    dump = corpus_path("wine/dumps/deadlock-i686-nocrt-ext-normal-cv.dmp")
    threads = open_target(dump).threads()
    assert len(threads) > 2
    doc = json.loads(run(str(dump), "--thread", "~1", "--json").stdout)
    assert [c["thread_id"] for c in doc["chains"]] == [threads[1].tid]
    every = json.loads(run(str(dump), "--thread", "~*", "--json").stdout)
    assert [c["thread_id"] for c in every["chains"]] == [t.tid for t in threads]


def test_thread_index_past_the_last_thread_is_a_usage_error_naming_the_range():
    dump = corpus_path("wine/dumps/deadlock-i686-nocrt-ext-normal-cv.dmp")
    count = len(open_target(dump).threads())
    result = run(str(dump), "--thread", f"~{count}")
    assert result.exit_code == 2 and f"~0 to ~{count - 1}" in result.stderr
