"""What the throughput benches share (a module, not a script): the corpus dump cycle, the one
Breakpad symbol tree both tools get, and the paired-median timing loop.

Paired: every round runs each side once, in turn, and the medians of the rounds are compared,
so load from the other users of a shared machine falls on both sides alike. The symbol tree is
the one tests/triage_peers.py hands to the peer tests too (it imports ``breakpad_symbol_tree``
from here), so a bench and the agreement tests measure the same symbols.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, List, Sequence

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = Path(os.environ.get("DUMPKIT_SHARED", REPO.parent / "shared")) / "corpus"
DEFAULT_PEER = Path(os.environ.get("DUMPKIT_MINIDUMP_STACKWALK",
                                   "/work/peers/bin/minidump-stackwalk-linux"))


def breakpad_symbol_tree(corpus: Path, root: Path) -> Path:
    """Lay out every Windows .sym of ``corpus`` under ``root`` as Breakpad does
    (``NAME.pdb/ID/NAME.sym``, from each file's MODULE line); returns ``root``."""
    for sym in sorted(corpus.rglob("*.sym")):
        with open(sym, "r", encoding="utf-8", errors="replace") as fh:
            first = fh.readline().split()
        # MODULE <os> <arch> <id> <name>
        if len(first) < 5 or first[0] != "MODULE" or first[1].lower() != "windows":
            continue
        name, debug_id = " ".join(first[4:]), first[3].upper()
        stem = name[:-4] if name.lower().endswith(".pdb") else name
        dest = root / name / debug_id / (stem + ".sym")
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(sym, dest)
    return root


def windows_dumps(corpus: Path) -> List[Path]:
    """Plain corpus minidumps that dumpkit opens as Windows processes with threads."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from toolkit.model.errors import DumpkitError
    from toolkit.targets.open import open_target
    found = []
    for path in sorted(p for pattern in ("*.dmp", "*.mdmp", "*.dump") for p in corpus.rglob(pattern)):
        try:
            target = open_target(path)
            try:
                if target.system_info().platform == "windows" and target.threads():
                    found.append(path)
            finally:
                target.close()
        except DumpkitError:
            continue
    return found


def distinct_copies(dumps: Sequence[Path], count: int, out: Path) -> List[Path]:
    """``count`` files cycling through ``dumps``, each made distinct by 11 trailing bytes (a
    minidump ignores bytes past its streams; a SHA-256 sees ``count`` different dumps)."""
    files = []
    for i in range(count):
        src = dumps[i % len(dumps)]
        dest = out / f"{i:04d}-{src.name}"
        dest.write_bytes(src.read_bytes() + b"DKBENCH" + i.to_bytes(4, "little"))
        files.append(dest)
    return files


def timed(action: Callable[[], object]) -> Callable[[], float]:
    """A side for ``paired_medians``: wall-clock seconds of one ``action()``."""
    def run() -> float:
        start = time.perf_counter()
        action()
        return time.perf_counter() - start
    return run


def paired_medians(sides: Sequence[Callable[[], float]], rounds: int) -> List[float]:
    """Median seconds of each side over ``rounds`` rounds; a round runs every side once, in
    order. A side returns the seconds it measured (``timed`` wraps a plain action)."""
    samples: List[List[float]] = [[] for _ in sides]
    for _ in range(max(1, rounds)):
        for side, out in zip(sides, samples):
            out.append(side())
    return [statistics.median(s) for s in samples]


def load_average() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


__all__ = ["breakpad_symbol_tree", "windows_dumps", "distinct_copies", "timed", "paired_medians",
           "load_average", "verdict", "REPO", "DEFAULT_CORPUS", "DEFAULT_PEER"]


def peer_bench_args(doc: str, dumps_help: str, rounds: int) -> argparse.Namespace:
    """The options of a bench against minidump-stackwalk on the corpus cycle (--dumps,
    --rounds, --peer, --corpus), parsed; exits with one line when the corpus or peer is absent.
    ``doc``: the script's docstring, whose first paragraph is the description."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=doc.split("\n\n", 1)[1])
    parser.add_argument("--dumps", type=int, default=200, help=f"{dumps_help} (default 200)")
    parser.add_argument("--rounds", type=int, default=rounds,
                        help=f"paired rounds (default {rounds})")
    parser.add_argument("--peer", type=Path, default=DEFAULT_PEER,
                        help=f"minidump-stackwalk binary (default {DEFAULT_PEER})")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    args = parser.parse_args()
    if not args.corpus.is_dir():
        sys.exit(f"no corpus at {args.corpus}")
    if not args.peer.is_file():
        sys.exit(f"no minidump-stackwalk at {args.peer} (see tests/triage_peers.py)")
    return args
