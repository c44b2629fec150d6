"""Start-up: `dumpkit info SAMPLE` and `dumpkit --help` as whole processes vs `python -c pass`.

Both sides run alternately in one loop (paired), on the same interpreter as the installed
`dumpkit` script, and the medians are compared, so load on a shared machine hits both alike.
Targets (issue 13): info <= 4x, --help <= 3x `python -c pass`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import paired_medians  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "dumps" / "crash_x64-normal.dmp"


def _dumpkit() -> list:
    exe = Path(sys.executable).with_name("dumpkit")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "toolkit"]


def _once(argv: list) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def paired(ours: list, peer: list, runs: int) -> tuple:
    return tuple(paired_medians([lambda: _once(ours), lambda: _once(peer)], runs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=21, help="paired runs per row (default 21)")
    ap.add_argument("--sample", default=str(SAMPLE), help="dump for `info` (default %(default)s)")
    args = ap.parse_args()
    peer = [sys.executable, "-c", "pass"]
    rows = [("info", _dumpkit() + ["info", args.sample], 4.0),
            ("--help", _dumpkit() + ["--help"], 3.0)]
    print(f"cores {os.cpu_count()}, load {os.getloadavg()[0]:.2f}, {args.runs} paired runs")
    print(f"{'target':<28} {'ours s':>8} {'peer s':>8} {'ratio':>7}  verdict")
    for name, argv, limit in rows:
        ours, base = paired(argv, peer, args.runs)
        ratio = ours / base
        print(f"{name + f' <= {limit:g}x python -c pass':<28} {ours:8.3f} {base:8.3f} "
              f"{ratio:6.2f}x  {'PASS' if ratio <= limit else 'FAIL'}")


if __name__ == "__main__":
    main()
