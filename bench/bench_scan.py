"""Conservative-scan throughput (slots/s): numpy classification vs a Python loop, same run.

Inputs: breakpad/processor/stack_exhaustion.dmp (the corpus's largest stack, ~1 MiB) and every
thread of the Wine full dump deadlock-x86_64-nocrt-ext-full.dmp.xz (decompressed once into
/tmp/dumpkit-bench). Prints slots, seconds and slots/s for: classification alone (searchsorted
over module code ranges), the Python-loop peer (bisect per slot), and the full scan (read +
classify + call-site verdicts, no symbolization). The issue's target: >= 20M slots/s classified.
"""

from __future__ import annotations

import bisect
import lzma
import shutil
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CORPUS = REPO.parent / "shared" / "corpus"
CACHE = Path("/tmp/dumpkit-bench")

from toolkit.targets.open import open_target  # noqa: E402
from toolkit.stackwalk.context import WalkContext  # noqa: E402
from toolkit.stackwalk.scan import code_ranges, scan_threads, thread_slots  # noqa: E402


def best(fn, repeat=5):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def python_loop(values, starts, ends):
    s, e = starts.tolist(), ends.tolist()
    out = []
    for v in values.tolist():
        i = bisect.bisect_right(s, v) - 1
        out.append(i >= 0 and v < e[i])
    return out


def measure(label, path):
    target = open_target(path)
    ctx = WalkContext(target, None)
    ranges = code_ranges(ctx)
    chunks = []
    for t in target.threads():
        if t.stack_start is None or t.stack_end is None:
            continue
        chunks.append(thread_slots(ctx, t, t.registers.values if t.registers else None)[1])
    values = np.concatenate(chunks).astype(np.uint64)
    # repeat to get a measurable batch (timing noise on tiny stacks)
    reps = max(1, 2_000_000 // max(1, len(values)))
    batch = np.tile(values, reps)
    t_np = best(lambda: ranges.classify(batch))
    small = batch[:200_000]
    t_py = best(lambda: python_loop(small, ranges.starts, ranges.ends), repeat=2)
    t_full = best(lambda: scan_threads(target, None, symbolize=False), repeat=3)
    n = len(batch)
    print(f"{label:<44} {len(values):>9} {n / t_np / 1e6:>10.1f} {len(small) / t_py / 1e6:>10.2f} "
          f"{(n / t_np) / (len(small) / t_py):>7.1f}x {len(values) / t_full / 1e6:>10.2f}")


def main():
    import argparse
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.parse_args()
    print(f"{'input':<44} {'slots':>9} {'numpy M/s':>10} {'loop M/s':>10} {'ratio':>8} "
          f"{'full M/s':>10}")
    measure("stack_exhaustion.dmp (x86, ~1 MiB stack)",
            CORPUS / "breakpad/processor/stack_exhaustion.dmp")
    src = CORPUS / "wine/dumps/deadlock-x86_64-nocrt-ext-full.dmp.xz"
    CACHE.mkdir(exist_ok=True)
    dst = CACHE / src.name[:-3]
    if not dst.exists():
        with lzma.open(src) as fin, open(dst, "wb") as fout:
            shutil.copyfileobj(fin, fout)
    measure("deadlock-x86_64-nocrt-ext-full (all threads)", dst)


if __name__ == "__main__":
    main()
