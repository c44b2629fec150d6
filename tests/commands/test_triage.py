"""``dumpkit triage``, run as the installed console script on real dumps: the corpus, the
shipped samples, hostile files written by the test, and archives of samples."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

from tests.conftest import CORPUS, SAMPLES
from tests.corpus.test_all_dumps import FULL_XZ, KERNEL, MALFORMED, NON_WINDOWS, WINDOWS

DUMPS = SAMPLES / "dumps"


def dumpkit(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "dumpkit"
    return subprocess.run([str(exe), "triage", *args], capture_output=True, text=True,
                          timeout=900, cwd=str(cwd))


def triage_json(*args: str, cwd: Path) -> dict:
    out = dumpkit("--json", *args, cwd=cwd)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory):
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is not beside the repository")
    work = tmp_path_factory.mktemp("corpus-triage")
    return work, triage_json(str(CORPUS), cwd=work)


def _names(entries: List[dict]) -> set:
    return {str(Path(e["path"]).relative_to(CORPUS)) for e in entries}


def test_corpus_every_windows_dump_is_ok(corpus_run):
    _, doc = corpus_run
    ok = {str(Path(d).relative_to(CORPUS)) for b in doc["buckets"] for d in b["dumps"]}
    expected = set(WINDOWS) | {f"wine/dumps/{n}.dmp.xz" for n in FULL_XZ}
    assert expected <= ok
    assert doc["ok"] == len(ok) == sum(b["count"] for b in doc["buckets"])


def test_corpus_foreign_kernel_and_malformed_dumps_are_refused_with_reasons(corpus_run):
    _, doc = corpus_run
    assert _names(doc["refused_dumps"]) == NON_WINDOWS | KERNEL | MALFORMED
    assert all(r["reason"] and "\n" not in r["reason"] for r in doc["refused_dumps"])
    linux = next(r for r in doc["refused_dumps"] if r["path"].endswith("linux-mini.dmp"))
    assert "Windows processes only" in linux["reason"]


def test_corpus_every_other_file_is_skipped_and_named(corpus_run):
    _, doc = corpus_run
    files = {str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*") if p.is_file()}
    dumps = {str(Path(d).relative_to(CORPUS)) for b in doc["buckets"] for d in b["dumps"]}
    skipped = {s["path"] for s in doc["skipped_files"]}
    archive_members = {s for s in skipped if "!" in s}
    skipped_files = {str(Path(s).relative_to(CORPUS)) for s in skipped - archive_members}
    archives = {str(Path(s.split("!")[0]).relative_to(CORPUS)) for s in archive_members}
    assert files == dumps | _names(doc["refused_dumps"]) | skipped_files | archives
    assert all(s["reason"] for s in doc["skipped_files"])
    pe = next(s for s in doc["skipped_files"] if s["path"].lower().endswith(".exe"))
    assert pe["reason"] == "not a dump (a PE image)"


def test_corpus_second_run_processes_nothing_and_force_redoes_all(corpus_run):
    work, first = corpus_run
    assert first["processed"] == first["dumps"] and first["known"] == 0
    again = triage_json(str(CORPUS), cwd=work)
    assert again["processed"] == 0 and again["known"] == first["dumps"]
    assert again["buckets"] == first["buckets"]
    forced = triage_json("--force", str(CORPUS), cwd=work)
    assert forced["processed"] == first["dumps"]
    assert forced["buckets"] == first["buckets"]


def test_hostile_dumps_are_refused_and_the_run_goes_on(tmp_path):
    header_only = tmp_path / "header-only.dmp"
    header_only.write_bytes(b"MDMP\x93\xa7\x00\x00" + b"\xff" * 56)
    truncated = tmp_path / "truncated.dmp"
    truncated.write_bytes((DUMPS / "crash_x64-normal.dmp").read_bytes()[:700])
    good = DUMPS / "crash_x64-normal.dmp"
    doc = triage_json(str(header_only), str(truncated), str(good), cwd=tmp_path)
    assert {Path(r["path"]).name for r in doc["refused_dumps"]} == {"header-only.dmp",
                                                                    "truncated.dmp"}
    assert doc["ok"] == 1 and doc["buckets"][0]["dumps"] == [str(good)]


def test_an_overrun_of_timeout_is_recorded_as_refused(tmp_path):
    doc = triage_json("--timeout", "0.001", "--jobs", "1", str(DUMPS / "crash_x64-normal.dmp"),
                      str(DUMPS / "seh_x86-normal.dmp"), cwd=tmp_path)
    assert doc["ok"] == 0 and doc["refused"] == 2
    assert {r["reason"] for r in doc["refused_dumps"]} == {"timed out after 0.001 s"}


def test_csv_lists_the_same_buckets_as_json(tmp_path):
    doc = triage_json(str(DUMPS), cwd=tmp_path)
    out = dumpkit("--csv", str(DUMPS), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [(r["bucket"], int(r["count"]), r["signature"], r["example"]) for r in rows] == \
        [(b["bucket"], b["count"], b["signature"], b["example"]) for b in doc["buckets"]]


def test_samples_json_counts_shares_and_stacks(tmp_path):
    doc = triage_json(str(DUMPS), "-y", str(SAMPLES / "bin"), cwd=tmp_path)
    assert doc["dumps"] == doc["ok"] == len(list(DUMPS.glob("*.dmp")))
    assert sum(b["count"] for b in doc["buckets"]) == doc["ok"]
    assert abs(sum(b["share"] for b in doc["buckets"]) - 1.0) < 0.01
    crash = next(b for b in doc["buckets"]
                 if b["bucket"] == "NULL_CLASS_PTR_READ_c0000005_crash_x64.exe!crash_read")
    assert crash["signature"] == "crash_read" and crash["top_module"] == "crash_x64.exe"
    assert crash["stack"][0].startswith("00 crash_x64.exe!crash_read")
    assert crash["first_time"].endswith("Z")


def test_text_table_names_buckets_refusals_and_skips(tmp_path):
    (tmp_path / "notes.txt").write_text("not a dump\n")
    (tmp_path / "bad.dmp").write_bytes(b"MDMP" + b"\0" * 28)
    out = dumpkit(str(DUMPS / "crash_x64-normal.dmp"), str(tmp_path / "notes.txt"),
                  str(tmp_path / "bad.dmp"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "NULL_CLASS_PTR_READ_c0000005_crash_x64.exe+0x1000" in out.stdout
    assert f"skipped: {tmp_path / 'notes.txt'}: not a dump (no MDMP signature)" in out.stdout
    assert f"refused: {tmp_path / 'bad.dmp'}:" in out.stdout
    assert "triage: 2/2 dumps analysed" in out.stderr      # not a terminal: plain progress


def test_a_database_that_is_not_one_is_a_one_line_error(tmp_path):
    (tmp_path / "x.sqlite").write_bytes(b"this is no database" * 100)
    out = dumpkit("--db", "x.sqlite", str(DUMPS), cwd=tmp_path)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


def test_the_database_is_wal_sqlite_with_one_row_per_dump(tmp_path):
    import sqlite3
    triage_json("--db", "t.sqlite", str(DUMPS), cwd=tmp_path)
    db = sqlite3.connect(str(tmp_path / "t.sqlite"))
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    rows = db.execute("SELECT path, status, os, arch, bucket, signature, analysis FROM dumps"
                      ).fetchall()
    assert len(rows) == len(list(DUMPS.glob("*.dmp")))
    for path, status, os_name, arch, bucket, signature, analysis in rows:
        assert status == "ok" and os_name.startswith("Windows") and arch in ("x86", "amd64")
        assert json.loads(analysis)["bucket"] == bucket
    assert os.path.exists(tmp_path / "t.sqlite")


def test_on_a_terminal_progress_is_a_rich_bar_with_rate_and_eta(tmp_path):
    pty = pytest.importorskip("pty", reason="no pseudo-terminals on this platform")
    import threading
    leader, follower = pty.openpty()
    chunks = []

    def drain() -> None:
        # Read while the run goes: a full pseudo-terminal buffer would block its writes.
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    exe = Path(sys.executable).parent / "dumpkit"
    proc = subprocess.run([str(exe), "triage", "--jobs", "1", str(DUMPS)], stdout=subprocess.PIPE,
                          stderr=follower, timeout=600, cwd=str(tmp_path))
    os.close(follower)
    reader.join(60)
    os.close(leader)
    shown = b"".join(chunks).decode("utf-8", "replace")
    assert proc.returncode == 0
    n = len(list(DUMPS.glob("*.dmp")))
    assert f"{n}/{n}" in shown and "dumps/s" in shown and "━" in shown
    assert "0:00:00" in shown                                   # rich's ETA column
    assert "triage: " not in shown.replace("triage ━", "")      # no plain lines on a tty


def test_a_terminated_run_keeps_what_it_finished_and_the_rerun_does_the_rest(tmp_path):
    import signal
    import sqlite3
    import time
    if not hasattr(signal, "SIGTERM") or sys.platform == "win32":
        pytest.skip("needs POSIX SIGTERM")
    inputs = tmp_path / "in"
    inputs.mkdir()
    originals = sorted(DUMPS.glob("*.dmp"))
    for i in range(120):
        src = originals[i % len(originals)]
        (inputs / f"{i:03d}-{src.name}").write_bytes(src.read_bytes() + i.to_bytes(4, "little"))
    exe = Path(sys.executable).parent / "dumpkit"
    proc = subprocess.Popen([str(exe), "triage", "--jobs", "1", str(inputs)], cwd=str(tmp_path),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    db = tmp_path / "dumpkit-triage.sqlite"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
        if "triage: " in (proc.stderr.readline() if proc.stderr else ""):
            break                                   # the first dump is done
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    kept = sqlite3.connect(str(db)).execute("SELECT COUNT(*) FROM dumps").fetchone()[0]
    assert 1 <= kept
    doc = triage_json(str(inputs), cwd=tmp_path)
    assert doc["known"] == kept and doc["processed"] == 120 - kept


def test_two_workers_give_the_buckets_counts_and_refusals_of_one(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    originals = sorted(DUMPS.glob("*.dmp"))
    for i in range(3 * len(originals)):             # enough that both workers queue several
        src = originals[i % len(originals)]
        (inputs / f"{i:03d}-{src.name}").write_bytes(src.read_bytes() + i.to_bytes(4, "little"))
    (inputs / "bad.dmp").write_bytes(b"MDMP" + b"\xff" * 60)
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    one = triage_json("--jobs", "1", str(inputs), cwd=tmp_path / "one")
    two = triage_json("--jobs", "2", str(inputs), cwd=tmp_path / "two")
    assert two["processed"] == one["processed"] == 3 * len(originals) + 1
    assert [(b["bucket"], b["count"]) for b in two["buckets"]] == \
        [(b["bucket"], b["count"]) for b in one["buckets"]]
    assert two["buckets"] == one["buckets"]
    assert two["refused_dumps"] == one["refused_dumps"] and len(one["refused_dumps"]) == 1
