"""Throughput of `dumpkit triage` against a loop of rust-minidump's `minidump-stackwalk --json`.

Input: N distinct dumps (default 200), the corpus's Windows minidumps cycled, each copy made
distinct by a few trailing bytes (a minidump ignores bytes past its streams, and triage's
SHA-256 then sees N different dumps). Both tools get the same Breakpad symbol tree, built from
every Windows .sym in the corpus (bench/benchlib.py, which tests/triage_peers.py uses too).

Measured in the same run, wall clock, process start-up included on both sides, in paired
rounds (each round runs the three below in turn; the medians are compared):
  * `dumpkit triage --jobs 1` on the N files (fresh database and symbol cache);
  * one `minidump-stackwalk --json DUMP TREE` process per file, one after another;
  * `dumpkit triage --jobs 2` (fresh database), for the scaling ratio.
Targets: ours >= 1.0x the peer per core; --jobs 2 >= 1.7x --jobs 1 (meaningful on >= 2 idle
cores only: the script prints the core count and the load average with the numbers).

    python bench/bench_triage.py [--dumps 200] [--rounds 3] [--peer PATH] [--corpus DIR]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import (breakpad_symbol_tree,  # noqa: E402
                      distinct_copies, load_average, paired_medians, peer_bench_args, verdict,
                      windows_dumps)


def run_triage(inputs: Path, tree: Path, jobs: int, work: Path) -> float:
    """Seconds of one `dumpkit triage` run with a fresh database and symbol cache."""
    exe = Path(sys.executable).parent / "dumpkit"
    db = work / f"bench-{jobs}.sqlite"
    for stale in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        stale.unlink(missing_ok=True)
    shutil.rmtree(work / f"symcache-{jobs}", ignore_errors=True)
    env = dict(os.environ, DUMPKIT_SYMBOL_CACHE=str(work / f"symcache-{jobs}"))
    start = time.perf_counter()
    proc = subprocess.run([str(exe), "triage", "--jobs", str(jobs), "--db", str(db),
                           "--symbol-path", str(tree), "--json", str(inputs)],
                          capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"dumpkit triage failed: {proc.stderr[-500:]}")
    import json
    doc = json.loads(proc.stdout)
    if doc["processed"] != len(list(inputs.iterdir())):
        sys.exit(f"dumpkit triage analysed {doc['processed']} dumps, expected all")
    if doc["refused"]:
        print(f"  note: {doc['refused']} dumps refused: {doc['refused_dumps'][0]['reason']}")
    return elapsed


def run_peer(peer: Path, files: List[Path], tree: Path) -> float:
    start = time.perf_counter()
    for f in files:
        proc = subprocess.run([str(peer), "--json", str(f), str(tree)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if proc.returncode != 0:
            sys.exit(f"minidump-stackwalk failed on {f}")
    return time.perf_counter() - start


def main() -> None:
    args = peer_bench_args(__doc__, "distinct dumps", rounds=3)
    work = Path(tempfile.mkdtemp(prefix="dumpkit-bench-triage-"))
    try:
        dumps = windows_dumps(args.corpus)
        inputs = work / "dumps"
        inputs.mkdir()
        files = distinct_copies(dumps, args.dumps, inputs)
        tree = breakpad_symbol_tree(args.corpus, work / "symbols")
        cores = os.cpu_count() or 1
        print(f"{len(files)} dumps ({len(dumps)} corpus Windows dumps cycled), {args.rounds} "
              f"paired rounds; {cores} cores, load average {load_average():.1f}")
        ours1, peer, ours2 = paired_medians(
            [lambda: run_triage(inputs, tree, 1, work),
             lambda: run_peer(args.peer, files, tree),
             lambda: run_triage(inputs, tree, 2, work)], args.rounds)
        n = len(files)
        rate1, rate_peer, rate2 = n / ours1, n / peer, n / ours2
        ratio, scale = rate1 / rate_peer, rate2 / rate1
        print(f"{'median of ' + str(args.rounds):<32}{'s':>10}{'dumps/s':>10}")
        print(f"{'dumpkit triage --jobs 1':<32}{ours1:10.2f}{rate1:10.1f}")
        print(f"{'minidump-stackwalk --json loop':<32}{peer:10.2f}{rate_peer:10.1f}")
        print(f"{'dumpkit triage --jobs 2':<32}{ours2:10.2f}{rate2:10.1f}")
        print(f"ours/peer per core: {ratio:.2f}x (target >= 1.0x)  {verdict(ratio >= 1.0)}")
        print(f"--jobs 2 / --jobs 1: {scale:.2f}x (target >= 1.7x on 2 idle cores)  "
              f"{verdict(scale >= 1.7)}")
        print(f"load average after: {load_average():.1f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
