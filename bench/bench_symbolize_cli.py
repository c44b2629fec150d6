"""`dumpkit symbolize` as a whole process vs `llvm-symbolizer` on the same addresses.

Input: N random code addresses (default 1,000,000) over the modules of real PE+PDB pairs of the
corpus, written once as a text file (one `0x…` per line) with a `--modules` JSON for dumpkit and
as `CODE image 0xVA` lines for llvm-symbolizer (`--no-inlines`, function+offset and line on
both sides). SymCaches are warmed once before timing. Rounds alternate ours / peer (paired) and
the medians are compared, so load on a shared machine hits both alike.

Rows: text output lines/s (target >= 1M/s), the ratio to llvm-symbolizer (target >= 15x), and
`symbolize --json` peak RSS of the process (target <= 200 MB for 1M lines, it streams).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAIRS = [  # (image, pdb) side by side in the corpus, so llvm-symbolizer finds the PDB too
    "symbolic/windows/crash.exe",
    "rizin-testbins/pdb/exceptions-test.exe",
    "mozilla-dump_syms/windows/basic32-min.dll",
    "llvm/tools/llvm-symbolizer/pdb/Inputs/test.exe",
]


def _dumpkit() -> list:
    exe = Path(sys.executable).with_name("dumpkit")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "toolkit"]


# The dumpkit CLI in a child that reports its own peak RSS (VmHWM) on stderr. ru_maxrss from
# wait4 is not used: it survives fork and exec, so a child of this (large) bench process would
# report the bench's own peak.
_PEAK_CHILD = ("import sys\n"
               "from commands.cli import main\n"
               "sys.argv = ['dumpkit'] + sys.argv[1:]\n"
               "try:\n"
               "    main()\n"
               "except SystemExit:\n"
               "    pass\n"
               "sys.stdout.flush()\n"
               "print([l.split()[1] for l in open('/proc/self/status')"
               " if l.startswith('VmHWM')][0], file=sys.stderr)\n")


def _peak_mb(args: list, stdin_path: Path, env: dict) -> float:
    """Peak RSS in MB of ``dumpkit ARGS < stdin_path``, output discarded."""
    with open(stdin_path, "rb") as stdin:
        proc = subprocess.run([sys.executable, "-c", _PEAK_CHILD] + args, stdin=stdin,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                              text=True, check=False)
    return int(proc.stderr.strip().splitlines()[-1]) / 1024


def _run(argv: list, stdin_path: Path, env: dict) -> tuple:
    """(wall seconds, ru_maxrss in MB) of one process reading stdin_path, output discarded."""
    with open(stdin_path, "rb") as stdin:
        t = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") \
        else status >> 8
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} exited {proc.returncode}")
    return elapsed, usage.ru_maxrss / 1024


def prepare(n: int, corpus: Path, work: Path) -> tuple:
    import numpy as np
    from toolkit.symbols.resolver import Resolver
    from toolkit.targets.pe.image import PeImage
    from toolkit.targets.trace import capture_module

    store = work / "store"
    store.mkdir()
    modules, images, base = [], [], 0x10000000
    for rel in PAIRS:
        image = corpus / rel
        for p in (image, image.with_suffix(".pdb")):
            shutil.copy(p, store / p.name)
        module = capture_module(image, base)[0].to_module()
        modules.append(module)
        images.append((image, PeImage.from_file(image).image_base))
        base += (module.size + 0xFFFF) & ~0xFFFF
    resolver = Resolver.from_symbol_path(str(store), cache_dir=work / "cache")
    tables = [resolver.symbols_for(m).table for m in modules]      # warms the cache on disk
    rng = np.random.default_rng(1)
    which = rng.integers(0, len(modules), n)
    lo = np.array([m.base + int(t.func_entry.min()) for m, t in zip(modules, tables)], np.uint64)
    hi = np.array([m.base + int(t.range_starts.max()) for m, t in zip(modules, tables)], np.uint64)
    addrs = lo[which] + (rng.random(n) * (hi - lo)[which]).astype(np.uint64)
    ours = work / "addresses.txt"
    ours.write_text("\n".join(f"{a:#x}" for a in addrs.tolist()) + "\n")
    (work / "modules.json").write_text(json.dumps([m.to_json(8) for m in modules]))
    bases = np.array([m.base for m in modules], np.uint64)
    peer_lines = []
    for a, k in zip(addrs.tolist(), which.tolist()):
        image, image_base = images[k]
        peer_lines.append(f"CODE {image} {image_base + a - int(bases[k]):#x}")
    peer = work / "peer.txt"
    peer.write_text("\n".join(peer_lines) + "\n")
    return ours, peer, store


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000, help="addresses (default 1M)")
    ap.add_argument("--rounds", type=int, default=3, help="paired rounds (default 3)")
    ap.add_argument("--corpus", default=str(ROOT.parent / "shared" / "corpus"))
    ap.add_argument("--peer", default=shutil.which("llvm-symbolizer") or "llvm-symbolizer",
                    help="llvm-symbolizer binary (apt-get install llvm)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dk-bench-symcli-"))
    try:
        ours_in, peer_in, store = prepare(args.lines, Path(args.corpus), work)
        env = dict(os.environ, DUMPKIT_SYMBOL_CACHE=str(work / "cache"))
        sym_args = ["symbolize", "--modules", str(work / "modules.json"), "-y", str(store)]
        ours_argv = _dumpkit() + sym_args
        peer_argv = [args.peer, "--no-inlines"]
        _run(ours_argv, ours_in, env)                 # warm: derived files in the cache
        t_ours, t_peer, rss = [], [], []
        for _ in range(args.rounds):
            t_ours.append(_run(ours_argv, ours_in, env)[0])
            t_peer.append(_run(peer_argv, peer_in, env)[0])
            rss.append(_peak_mb(sym_args + ["--json"], ours_in, env))
        n = args.lines
        ours, peer = n / statistics.median(t_ours), n / statistics.median(t_peer)
        mb = max(rss)
        rss_limit = 200 * n / 1_000_000 if n >= 1_000_000 else 200
        print(f"cores {os.cpu_count()}, load {os.getloadavg()[0]:.2f}, {n:,} lines, "
              f"{args.rounds} paired rounds")
        print(f"{'target':<36} {'ours':>12} {'peer':>12} {'ratio':>8}  verdict")
        print(f"{'lines/s, whole process >= 1M/s':<36} {ours:12,.0f} {'-':>12} {'':>8}  "
              f"{'PASS' if ours >= 1e6 else 'FAIL'}")
        print(f"{'vs llvm-symbolizer >= 15x':<36} {ours:12,.0f} {peer:12,.0f} "
              f"{ours / peer:7.1f}x  {'PASS' if ours / peer >= 15 else 'FAIL'}")
        print(f"{'--json peak RSS MB <= 200':<36} {mb:12.0f} {'-':>12} {'':>8}  "
              f"{'PASS' if mb <= rss_limit else 'FAIL'}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
