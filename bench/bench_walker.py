"""Walker throughput: one Python process walking the corpus dump cycle against a loop of
rust-minidump's `minidump-stackwalk --json` processes on the same files and symbols.

Input: N dumps (default 200), the corpus's Windows minidumps cycled as bench_triage.py builds
them (each copy made distinct by a few trailing bytes), and one Breakpad symbol tree of the
corpus's Windows .sym files given to both tools (bench/benchlib.py).

Ours, per round: a fresh `python` process (so the per-process caches of module images and
unwind tables start cold) opens each dump, walks every thread with symbols and renders the
report as compact JSON, as `minidump-stackwalk --json` does; it reports the seconds from the
first open to the last JSON (its interpreter start-up and imports, paid once per process, are
printed apart). The peer, per round: one `minidump-stackwalk --json DUMP TREE` process per
dump, one after another, start-up included. Rounds alternate the two sides (paired) and the
medians are compared. Target (issue 13): ours >= 1.1x the peer (>= 150 dumps/s on idle cores).
CPU seconds of both sides are printed too (the child's own; the peer processes' from
getrusage), a figure a loaded machine distorts less than wall clock.

    python bench/bench_walker.py [--dumps 200] [--rounds 5] [--peer PATH] [--corpus DIR]
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import (REPO, breakpad_symbol_tree,  # noqa: E402
                      distinct_copies, load_average, paired_medians, peer_bench_args, timed, verdict,
                      windows_dumps)

TARGET_RATIO = 1.1


def walk_all(files: List[str], tree: str) -> "tuple[float, float]":
    """(wall, CPU) seconds to open, walk (every thread, symbolized) and render each file as
    JSON."""
    from toolkit.stackwalk.walker import walk_target
    from toolkit.symbols.resolver import Resolver
    from toolkit.targets.open import open_target
    resolver = Resolver.from_symbol_path(tree)
    start, cpu = time.perf_counter(), time.process_time()
    for path in files:
        target = open_target(path)
        try:
            json.dumps(walk_target(target, resolver).to_json(), separators=(",", ":"))
        finally:
            target.close()
    return time.perf_counter() - start, time.process_time() - cpu


def run_ours(list_file: Path, tree: Path, cache: Path) -> "tuple[float, float, float]":
    """(walk seconds, walk CPU seconds, process seconds) of one child walking the files."""
    shutil.rmtree(cache, ignore_errors=True)
    env = dict(os.environ, DUMPKIT_SYMBOL_CACHE=str(cache), PYTHONPATH=str(REPO))
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--child", str(list_file), str(tree)],
                          capture_output=True, text=True, env=env)
    whole = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"walker child failed: {proc.stderr[-800:]}")
    walk, cpu = (float(x) for x in proc.stdout.split()[-2:])
    return walk, cpu, whole


def run_peer(peer: Path, files: List[Path], tree: Path) -> float:
    """CPU seconds (user + system) of the peer processes, one per file."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    for f in files:
        proc = subprocess.run([str(peer), "--json", str(f), str(tree)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if proc.returncode != 0:
            sys.exit(f"minidump-stackwalk failed on {f}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        files = Path(sys.argv[2]).read_text().split("\n")
        print("%.6f %.6f" % walk_all([f for f in files if f], sys.argv[3]))
        return
    args = peer_bench_args(__doc__, "dumps per round", rounds=5)
    work = Path(tempfile.mkdtemp(prefix="dumpkit-bench-walker-"))
    try:
        dumps = windows_dumps(args.corpus)
        (work / "dumps").mkdir()
        files = distinct_copies(dumps, args.dumps, work / "dumps")
        list_file = work / "files.txt"
        list_file.write_text("\n".join(str(f) for f in files))
        tree = breakpad_symbol_tree(args.corpus, work / "symbols")
        whole: List[float] = []
        cpu_ours: List[float] = []
        cpu_peer: List[float] = []

        def ours() -> float:
            walk, cpu, process = run_ours(list_file, tree, work / "symcache")
            whole.append(process - walk)
            cpu_ours.append(cpu)
            return walk

        load_before = load_average()
        ours_s, peer_s = paired_medians(
            [ours, timed(lambda: cpu_peer.append(run_peer(args.peer, files, tree)))],
            args.rounds)
        n = len(files)
        rate, peer_rate = n / ours_s, n / peer_s
        ratio = rate / peer_rate
        print(f"{n} dumps ({len(dumps)} corpus Windows dumps cycled), {args.rounds} paired "
              f"rounds; {os.cpu_count()} cores, load average {load_before:.1f} before, "
              f"{load_average():.1f} after")
        print(f"{'side':<40}{'median s':>10}{'dumps/s':>10}")
        print(f"{'dumpkit walk, one process':<40}{ours_s:10.2f}{rate:10.1f}")
        print(f"{'minidump-stackwalk --json loop':<40}{peer_s:10.2f}{peer_rate:10.1f}")
        print(f"  (our process start-up and imports, once per process: "
              f"{sorted(whole)[len(whole) // 2]:.2f} s, not in the walk figure)")
        print(f"ours/peer: {ratio:.2f}x (target >= {TARGET_RATIO}x)  {verdict(ratio >= TARGET_RATIO)}")
        c_ours, c_peer = statistics.median(cpu_ours), statistics.median(cpu_peer)
        print(f"CPU seconds (user+system, medians): ours {c_ours:.2f}, peer {c_peer:.2f} -> "
              f"{c_peer / c_ours:.2f}x  (less sensitive to load than wall clock: on a busy "
              f"machine the scheduler favours the peer's short-lived processes)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
