"""Thread scaling of `dumpkit stack --all-threads --json` against `minidump-stackwalk --json`.

Builds x64 dumps of 500, 2000, 5000 and 20000 threads (tests/many_threads.py: each thread a
copy of one of the shipped deadlock_cs_x64 sample's three threads, with a stack of its own that
unwinds through ntdll, kernelbase, kernel32 and the sample exe, whose images and unwind tables
are in dump memory), then times both tools as whole processes on each dump, alternately.

Prints wall seconds and ms/thread for both (and each side's CPU seconds, steadier than wall
time on a shared machine), and two targets on wall time with PASS/FAIL:
- flat: our ms/thread at the largest size within 1.5x of that at the smallest;
- the 5000-thread dump in at most 3x minidump-stackwalk's time.

    python bench/bench_threads.py                       # 500, 2000, 5000, 20000 threads
    python bench/bench_threads.py --sizes 500,5000 --runs 3

Dumps are written once into --cache (default $DUMPKIT_BENCH_CACHE or /tmp/dumpkit-bench).
Our side runs with an empty symbol path and a fresh symbol cache, so both tools walk from dump
memory alone. Each run's JSON is checked: one entry per thread, every thread with frames.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Tuple

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PEER = Path(os.environ.get("DUMPKIT_MINIDUMP_STACKWALK",
                                   "/work/peers/bin/minidump-stackwalk-linux"))
DEFAULT_CACHE = Path(os.environ.get("DUMPKIT_BENCH_CACHE", "/tmp/dumpkit-bench"))
FLAT_LIMIT = 1.5
RATIO_LIMIT = 3.0
RATIO_SIZE = 5000


def thread_dump(cache: Path, threads: int) -> Path:
    sys.path.insert(0, str(REPO))
    from tests.many_threads import many_thread_dump
    path = cache / f"threads-{threads}.dmp"
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        many_thread_dump(threads, partial)
        partial.rename(path)
    return path


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: List[str], env: Dict[str, str]) -> Tuple[float, float, bytes]:
    """(wall seconds, CPU seconds of the child, its stdout)."""
    cpu, start = _child_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    elapsed, cpu = time.perf_counter() - start, _child_cpu() - cpu
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}): "
                         f"{proc.stderr.decode(errors='replace')[-400:]}")
    return elapsed, cpu, proc.stdout


def check(output: bytes, threads: int, who: str) -> None:
    doc = json.loads(output)
    walked = doc["threads"]
    if len(walked) != threads or not all(t["frames"] for t in walked):
        raise SystemExit(f"{who}: {len(walked)} threads in the JSON, expected {threads}, "
                         "each with frames")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="500,2000,5000,20000",
                        help="thread counts, comma separated (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=1,
                        help="paired runs per size; medians are printed (default: 1)")
    parser.add_argument("--peer", type=Path, default=DEFAULT_PEER,
                        help="minidump-stackwalk binary (default: $DUMPKIT_MINIDUMP_STACKWALK "
                             "or /work/peers/bin/minidump-stackwalk-linux)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                        help="where the generated dumps are kept (default: %(default)s)")
    args = parser.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    if not args.peer.is_file():
        raise SystemExit(f"peer not found: {args.peer} (give --peer)")
    ours = Path(sys.executable).parent / "dumpkit"
    if not ours.is_file():
        raise SystemExit(f"no dumpkit script beside {sys.executable}: pip install -e . first")

    rows = {}
    with tempfile.TemporaryDirectory(prefix="bench-threads-") as home:
        env = dict(os.environ, HOME=home, DUMPKIT_SYMBOL_CACHE=os.path.join(home, "cache"),
                   _NT_SYMBOL_PATH="")
        for n in sizes:
            dump = thread_dump(args.cache, n)
            mine, theirs, mine_cpu, theirs_cpu = [], [], [], []
            for _ in range(args.runs):
                t, c, out = timed([str(ours), "stack", str(dump), "--all-threads", "--json"], env)
                check(out, n, "dumpkit")
                mine.append(t)
                mine_cpu.append(c)
                t, c, out = timed([str(args.peer), "--json", str(dump)], env)
                check(out, n, "minidump-stackwalk")
                theirs.append(t)
                theirs_cpu.append(c)
            rows[n] = (statistics.median(mine), statistics.median(theirs))
            cpu = (statistics.median(mine_cpu), statistics.median(theirs_cpu))
            print(f"{n:>6} threads  dumpkit {rows[n][0]:7.2f} s {rows[n][0] / n * 1e3:6.3f} "
                  f"ms/thread   minidump-stackwalk {rows[n][1]:6.2f} s "
                  f"{rows[n][1] / n * 1e3:6.3f} ms/thread   ratio {rows[n][0] / rows[n][1]:5.2f}"
                  f"   (CPU {cpu[0]:.2f} s vs {cpu[1]:.2f} s, ratio {cpu[0] / cpu[1]:.2f})",
                  flush=True)

    load = os.getloadavg()
    print(f"cores {os.cpu_count()}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    ok = True
    lo, hi = sizes[0], sizes[-1]
    if lo != hi:
        flat = (rows[hi][0] / hi) / (rows[lo][0] / lo)
        verdict = "PASS" if flat <= FLAT_LIMIT else "FAIL"
        ok &= verdict == "PASS"
        print(f"flat: ms/thread at {hi} / at {lo} = {flat:.2f} (target <= {FLAT_LIMIT})  {verdict}")
    if RATIO_SIZE in rows:
        ratio = rows[RATIO_SIZE][0] / rows[RATIO_SIZE][1]
        verdict = "PASS" if ratio <= RATIO_LIMIT else "FAIL"
        ok &= verdict == "PASS"
        print(f"{RATIO_SIZE} threads: dumpkit / minidump-stackwalk = {ratio:.2f} "
              f"(target <= {RATIO_LIMIT})  {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
