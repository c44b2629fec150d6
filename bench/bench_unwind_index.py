"""Benchmark: dumpkit's .pdata index against pefile's exception-directory parse.

A script, not a test: it prints numbers and ratios measured in the same run.

    python bench/bench_unwind_index.py [PE ...]

Default input: the corpus x64 image with the largest .pdata (mozilla-dump_syms mozwer.dll,
1547 entries). Measured: building the index (ours: one np.frombuffer; pefile: parsing the
exception directory, which decodes every UNWIND_INFO), per-lookup time (ours: searchsorted
+ lazy UNWIND_INFO decode; pefile: bisect over its parsed list, the best a pefile user can do),
vectorized lookups, and the call-site check's throughput over the image's .text.
"""

from __future__ import annotations

import bisect
import sys
import time
from pathlib import Path

import numpy as np
import pefile

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from toolkit.model.target import Arch  # noqa: E402
from toolkit.unwind.amd64_unwind_info import ImageUnwindData, file_rva_reader  # noqa: E402
from toolkit.unwind.callsite import call_site_mask  # noqa: E402

DEFAULT = REPO.parent / "shared" / "corpus" / "mozilla-dump_syms" / "windows" / "mozwer.dll"


def best_of(fn, repeat=5):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), result


def bench(path: Path) -> None:
    data = path.read_bytes()
    read_rva, base, rva, size = file_rva_reader(data)
    t_ours, unwind = best_of(lambda: ImageUnwindData(read_rva, rva, size))

    def pefile_parse():
        pe = pefile.PE(data=data, fast_load=True)
        pe.parse_data_directories(directories=[3])
        return pe.DIRECTORY_ENTRY_EXCEPTION
    t_pefile, entries = best_of(pefile_parse, repeat=3)
    n = len(unwind.index)
    print(f"{path.name}: {n} RUNTIME_FUNCTIONs (pefile {len(entries)})")
    print(f"  build   ours {t_ours * 1e3:8.3f} ms   pefile {t_pefile * 1e3:8.1f} ms "
          f"({t_pefile / n * 1e6:.0f} us/entry)   ratio {t_pefile / t_ours:6.0f}x")

    rng = np.random.default_rng(0)
    lo, hi = int(unwind.index.begin[0]), int(unwind.index.end[-1])
    probes = rng.integers(lo, hi, size=20000)
    probe_list = probes.tolist()

    def ours_lookup():
        found = 0
        for p in probe_list:
            e = unwind.function_at(p)
            if e is not None:
                unwind.unwind_info(e.unwind_data)
                found += 1
        return found
    ours_lookup()   # warm the UNWIND_INFO cache, as a walk revisiting functions would
    t_look, found = best_of(ours_lookup, repeat=3)
    starts = [e.struct.BeginAddress for e in entries]

    def pefile_lookup():
        found = 0
        for p in probe_list:
            i = bisect.bisect_right(starts, p) - 1
            if i >= 0 and p < entries[i].struct.EndAddress:
                found += 1
        return found
    t_plook, pfound = best_of(pefile_lookup, repeat=3)
    assert found == pfound, (found, pfound)
    print(f"  lookup  ours {t_look / len(probes) * 1e6:8.2f} us   pefile+bisect "
          f"{t_plook / len(probes) * 1e6:8.2f} us   (pefile also paid the build above)")
    t_vec, rows = best_of(lambda: unwind.index.lookup_many(probes))
    print(f"  lookup_many {len(probes) / t_vec / 1e6:8.1f} M lookups/s "
          f"({int((rows >= 0).sum())} hits)")

    pe = pefile.PE(data=data, fast_load=True)
    text = next(s for s in pe.sections if s.Characteristics & 0x20000000).get_data()
    arch = Arch.AMD64 if pe.FILE_HEADER.Machine == 0x8664 else Arch.X86
    offsets = np.arange(8, len(text), dtype=np.int64)
    t_cs, mask = best_of(lambda: call_site_mask(text, offsets, arch), repeat=3)
    print(f"  callsite {len(offsets) / t_cs / 1e6:8.1f} M candidates/s over .text "
          f"({len(text)} bytes, {int(mask.sum())} call-preceded offsets)")


def main(argv) -> None:
    import argparse
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pe", nargs="*", type=Path, help=f"x64 PE images (default {DEFAULT})")
    paths = ap.parse_args(argv).pe or [DEFAULT]
    for path in paths:
        if not path.exists():
            print(f"skip {path}: absent")
            continue
        bench(path)


if __name__ == "__main__":
    main(sys.argv[1:])
