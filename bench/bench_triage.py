"""Throughput of `dumpkit triage` against a loop of rust-minidump's `minidump-stackwalk --json`.

Input: N distinct dumps (default 200), the corpus's Windows minidumps cycled, each copy made
distinct by a few trailing bytes (a minidump ignores bytes past its streams, and triage's
SHA-256 then sees N different dumps). Both tools get the same Breakpad symbol tree, built from
every Windows .sym in the corpus as tests/triage_peers.py builds it (NAME.pdb/ID/NAME.sym).

Measured in the same run, wall clock, process start-up included on both sides:
  * `dumpkit triage --jobs 1` on the N files (fresh database and symbol cache);
  * one `minidump-stackwalk --json DUMP TREE` process per file, one after another;
  * `dumpkit triage --jobs 2` (fresh database), for the scaling ratio.
Targets: ours >= 1.0x the peer per core; --jobs 2 >= 1.7x --jobs 1 (meaningful on >= 2 idle
cores only: the script prints the core count and the load average with the numbers).

    python bench/bench_triage.py [--dumps 200] [--peer PATH] [--corpus DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = Path(os.environ.get("DUMPKIT_SHARED", REPO.parent / "shared")) / "corpus"
DEFAULT_PEER = Path(os.environ.get("DUMPKIT_MINIDUMP_STACKWALK",
                                   "/work/peers/bin/minidump-stackwalk-linux"))


def windows_dumps(corpus: Path) -> List[Path]:
    """Plain corpus minidumps that dumpkit opens as Windows processes."""
    sys.path.insert(0, str(REPO))
    from toolkit.model.errors import DumpkitError
    from toolkit.targets.open import open_target
    found = []
    for path in sorted(p for pattern in ("*.dmp", "*.mdmp", "*.dump") for p in corpus.rglob(pattern)):
        try:
            target = open_target(path)
            if target.system_info().platform == "windows" and target.threads():
                found.append(path)
        except DumpkitError:
            continue
    return found


def symbol_tree(corpus: Path, root: Path) -> Path:
    """Breakpad layout of the corpus's Windows .sym files (same as tests/triage_peers.py, which
    needs pytest; a bench must not)."""
    for sym in sorted(corpus.rglob("*.sym")):
        with open(sym, "r", encoding="utf-8", errors="replace") as fh:
            first = fh.readline().split()
        if len(first) < 5 or first[0] != "MODULE" or first[1].lower() != "windows":
            continue
        name, debug_id = " ".join(first[4:]), first[3].upper()
        stem = name[:-4] if name.lower().endswith(".pdb") else name
        dest = root / name / debug_id / (stem + ".sym")
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(sym, dest)
    return root


def distinct_copies(dumps: List[Path], count: int, out: Path) -> List[Path]:
    files = []
    for i in range(count):
        src = dumps[i % len(dumps)]
        dest = out / f"{i:04d}-{src.name}"
        dest.write_bytes(src.read_bytes() + b"DKBENCH" + i.to_bytes(4, "little"))
        files.append(dest)
    return files


def run_triage(inputs: Path, tree: Path, jobs: int, work: Path) -> float:
    exe = Path(sys.executable).parent / "dumpkit"
    db = work / f"bench-{jobs}.sqlite"
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
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--dumps", type=int, default=200, help="distinct dumps (default 200)")
    parser.add_argument("--peer", type=Path, default=DEFAULT_PEER,
                        help=f"minidump-stackwalk binary (default {DEFAULT_PEER})")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    args = parser.parse_args()
    if not args.corpus.is_dir():
        sys.exit(f"no corpus at {args.corpus}")
    if not args.peer.is_file():
        sys.exit(f"no minidump-stackwalk at {args.peer} (see tests/triage_peers.py)")
    work = Path(tempfile.mkdtemp(prefix="dumpkit-bench-triage-"))
    try:
        dumps = windows_dumps(args.corpus)
        inputs = work / "dumps"
        inputs.mkdir()
        files = distinct_copies(dumps, args.dumps, inputs)
        tree = symbol_tree(args.corpus, work / "symbols")
        cores = os.cpu_count() or 1
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"{len(files)} dumps ({len(dumps)} corpus Windows dumps cycled); {cores} cores, "
              f"load average {load:.1f}")
        ours1 = run_triage(inputs, tree, 1, work)
        peer = run_peer(args.peer, files, tree)
        ours2 = run_triage(inputs, tree, 2, work)
        n = len(files)
        rate1, rate_peer, rate2 = n / ours1, n / peer, n / ours2
        ratio, scale = rate1 / rate_peer, rate2 / rate1
        print(f"{'dumpkit triage --jobs 1':<32}{ours1:8.2f} s {rate1:8.1f} dumps/s")
        print(f"{'minidump-stackwalk --json loop':<32}{peer:8.2f} s {rate_peer:8.1f} dumps/s")
        print(f"{'dumpkit triage --jobs 2':<32}{ours2:8.2f} s {rate2:8.1f} dumps/s")
        print(f"ours/peer per core: {ratio:.2f}x (target >= 1.0x)  "
              f"{'PASS' if ratio >= 1.0 else 'FAIL'}")
        print(f"--jobs 2 / --jobs 1: {scale:.2f}x (target >= 1.7x on 2 idle cores)  "
              f"{'PASS' if scale >= 1.7 else 'FAIL'}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
