"""Call-site check over every corpus x86/x64 minidump: candidates vs call-verified, and how many
frames the unwinder found that the scan confirms (the return address sits in the slot just
below the caller's SP and is call-verified there).

Prints one row per dump and a total. Symbol path per dump: its own directory, plus the corpus
directories that hold matching binaries/symbols (wine/bin, breakpad symbols, symbolic/windows)
and samples/bin.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CORPUS = REPO.parent / "shared" / "corpus"

from toolkit.model.errors import DumpkitError  # noqa: E402
from toolkit.targets.open import open_target  # noqa: E402
from toolkit.stackwalk.scan import scan_threads  # noqa: E402
from toolkit.stackwalk.walker import walk_target  # noqa: E402
from toolkit.symbols.resolver import Resolver  # noqa: E402
from toolkit.model.target import Arch  # noqa: E402

EXTRA = [CORPUS / "wine/bin", CORPUS / "breakpad/processor/symbols",
         CORPUS / "symbolic/windows", REPO / "samples/bin"]


def row(path: Path, cache: Path):
    target = open_target(path)
    if target.arch not in (Arch.X86, Arch.AMD64):
        return None
    text = ";".join(str(p) for p in [path.parent, *EXTRA] if p.is_dir())
    resolver = Resolver.from_symbol_path(text, cache_dir=cache)
    scan = scan_threads(target, resolver, symbolize=False)
    candidates = sum(len(r.hits) for r in scan.regions)
    verified = sum(r.verified for r in scan.regions)
    confirmed_slots = {(h.slot, h.value) for r in scan.regions for h in r.hits if h.call_verified}
    walk = walk_target(target, resolver)
    ps = target.pointer_size
    frames = confirmed = 0
    for stack in walk.threads:
        for f in stack.frames[1:]:
            frames += 1
            confirmed += (f.sp - ps, f.ip) in confirmed_slots
    return target.arch.value, candidates, verified, frames, confirmed


def main():
    import argparse
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.parse_args()
    dumps = sorted(p for p in CORPUS.rglob("*.dmp")) + sorted((REPO / "samples/dumps").glob("*.dmp"))
    cache = Path(tempfile.mkdtemp(prefix="dumpkit-callsite-"))
    print(f"{'dump':<62} {'arch':<6} {'cands':>7} {'call':>6} {'%':>5} {'frames':>6} {'conf':>5}")
    tot = [0, 0, 0, 0]
    for path in dumps:
        try:
            got = row(path, cache)
        except (DumpkitError, OSError, ValueError) as exc:
            print(f"{str(path.relative_to(path.parents[2])):<62} skipped: {type(exc).__name__}")
            continue
        if got is None:
            continue
        arch, c, v, f, k = got
        tot = [a + b for a, b in zip(tot, (c, v, f, k))]
        pct = 100.0 * v / c if c else 0.0
        name = str(path.relative_to(path.parents[2]))[-62:]
        print(f"{name:<62} {arch:<6} {c:>7} {v:>6} {pct:>5.1f} {f:>6} {k:>5}")
    pct = 100.0 * tot[1] / tot[0] if tot[0] else 0.0
    print(f"{'TOTAL':<62} {'':<6} {tot[0]:>7} {tot[1]:>6} {pct:>5.1f} {tot[2]:>6} {tot[3]:>5}")


if __name__ == "__main__":
    main()
