"""Agreement of ``dumpkit symbolize`` with three peers' expected outputs, as percentages.

Run: ``python bench/report_symbolize_agreement.py [CORPUS]``. Function, file and line are
compared for every case (see bench/symbolize_peers.py for how each peer's output is read);
column numbers, which only llvm-symbolizer's pdb-columns.test checks, are reported apart
because symbolic's SymCache does not keep them. Every disagreement is printed.
"""

from __future__ import annotations

import sys
import tempfile
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import symbolize_peers as peers  # noqa: E402


def main() -> None:
    import argparse
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", nargs="?", type=Path, default=peers.CORPUS_DEFAULT,
                    help="the shared corpus (default %(default)s)")
    corpus = ap.parse_args().corpus
    with tempfile.TemporaryDirectory() as cache:
        outcomes = peers.evaluate(corpus, Path(cache))
    by_peer = defaultdict(list)
    for o in outcomes:
        by_peer[o.case.peer].append(o)
    total = agree_total = 0
    print(f"{'peer':<16} {'cases':>5} {'name+file+line':>15} {'incl. columns':>14}")
    for peer, items in by_peer.items():
        core = [o for o in items if not [m for m in o.mismatches if not m.startswith("column")]]
        full = [o for o in items if o.agrees]
        total += len(items)
        agree_total += len(core)
        print(f"{peer:<16} {len(items):>5} {100 * len(core) / len(items):>14.1f}% "
              f"{100 * len(full) / len(items):>13.1f}%")
    print(f"{'all':<16} {total:>5} {100 * agree_total / total:>14.1f}%")
    bad = [o for o in outcomes if not o.agrees]
    if bad:
        print("\nDisagreements:")
        for o in bad:
            print(f"  {o.case.peer}: {o.case.name}: {'; '.join(o.mismatches)}  -> {o.got['text']}")


if __name__ == "__main__":
    main()
