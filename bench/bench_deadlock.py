"""Timing of `dumpkit deadlock` on generated transcripts: linear in size, no runaway.

Generates kd `!process 0 7` text (threads with wait objects and x64 stacks, short mutant
chains) of about 10k and 100k lines, and a directly built graph with thousands of threads
converging on one chain. Prints seconds and microseconds per line; the 100k/10k per-line ratio
near 1 is the linearity check (the peer measured in the same run is the 10k transcript).

    python bench/bench_deadlock.py

The dump part copies a real Wine sample (samples/dumps/deadlock_mutex_x86-full-trim-cv-handles
.dmp) and replaces its thread list with thousands of threads cloned from the two deadlocked
workers (same context and stack, new ids), so every thread is walked, its wait recognised through
the import thunk and its handle recovered: per-thread time at 500 and 5000 threads, ratio ~1.
"""

from __future__ import annotations

import os
import struct
import tempfile
import time

from toolkit.waitgraph.analysis import analyse
from toolkit.waitgraph.builders.transcript import build_from_text
from toolkit.waitgraph.model import (
    EdgeKind, Evidence, GraphBuilder, ResourceKind, ResourceNode, ThreadNode, ThreadState)

FRAME = ("        ffffd000`{sp:08x} fffff803`a96c2f2a : 00000000`00000000 00000000`00000000 "
         "00000000`00000000 00000000`00000000 : nt!{fn}+0x76")


def transcript(threads: int) -> str:
    out = ["kd> !process 0 7"]
    for t in range(threads):
        pid = 0x100 + t // 50
        if t % 50 == 0:
            out += [f"PROCESS ffffe000{pid:08x}",
                    f"    SessionId: 1  Cid: {pid:04x}    Peb: 7ff5fffd6000  ParentCid: 0004",
                    f"    Image: proc{pid}.exe", ""]
        kthread = 0xFFFFE00010000000 + t * 0x1000
        owner = kthread + 0x1000 if t % 10 != 9 else 0xFFFFE00010000000 + (t - 9) * 0x1000
        out.append(f"        THREAD {kthread:016x}  Cid {pid:04x}.{0x1000 + t:04x}  Teb: "
                   "00007ff5fffde000 Win32Thread: 0000000000000000 WAIT: (UserRequest) "
                   "UserMode Non-Alertable")
        if t % 2 == 0:
            out.append(f"            {0xFFFFE00080000000 + t * 0x40:016x}  Mutant - owning "
                       f"thread {owner:016x}")
        else:
            out.append(f"            {0xFFFFE00090000000 + t * 0x40:016x}  SynchronizationEvent")
        out += ["        Not impersonating",
                "        Child-SP          RetAddr           : Args to Child"
                "                                                           : Call Site"]
        out += [FRAME.format(sp=0x21B47000 + i * 0x40, fn=fn) for i, fn in
                enumerate(["KiSwapContext", "KiSwapThread", "KiCommitThreadWait",
                           "KeWaitForSingleObject", "NtWaitForSingleObject",
                           "KiSystemServiceCopyEnd"])]
        out.append("")
    return "\n".join(out) + "\n"


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def bench_transcripts() -> None:
    per_line = {}
    for threads in (1000, 10000):
        text = transcript(threads)
        lines = text.count("\n")
        graph, t_build = timed(lambda: build_from_text(text, "bench.txt"))
        report, t_analyse = timed(lambda: analyse(graph))
        per_line[threads] = (t_build + t_analyse) / lines
        print(f"transcript {lines:>7} lines, {threads:>5} threads: build {t_build:6.2f}s  "
              f"analyse {t_analyse:6.3f}s  {per_line[threads] * 1e6:6.1f} us/line  "
              f"cycles {len(report.cycles)} chains {len(report.chains)}")
    print(f"per-line time ratio 100k/10k lines: {per_line[10000] / per_line[1000]:.2f} "
          "(1.0 = linear)")


def bench_graph(threads: int) -> None:
    b = GraphBuilder()
    ev = Evidence("bench", None, "generated")
    previous = None
    for tid in range(threads):            # one long chain: t0 -> m0 -> t1 -> m1 -> ...
        t = b.add(ThreadNode(1, tid, state=ThreadState.WAITING))
        if previous is not None:
            b.edge(previous, t, EdgeKind.OWNED_BY, ev)
        previous = b.add(ResourceNode(ResourceKind.MUTANT, address=0x10000 + tid))
        b.edge(t, previous, EdgeKind.WAITS_FOR, ev)
    graph, t_build = timed(b.build)
    report, t_analyse = timed(lambda: analyse(graph))
    print(f"graph {threads:>6} threads in one chain: build {t_build:6.3f}s  analyse "
          f"{t_analyse:6.3f}s  ({t_analyse / threads * 1e6:5.2f} us/thread, "
          f"chains {len(report.chains)})")


SAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "samples")
MINIDUMP_THREAD = struct.Struct("<IIIIQQII II")       # ThreadId .. Stack .. ThreadContext


def many_thread_dump(threads: int, path: str) -> None:
    """The mutex sample with ``threads`` workers: its ThreadList stream is replaced by a new one
    (appended at the end of the file, directory entry repointed); the other streams unchanged."""
    with open(os.path.join(SAMPLE, "dumps", "deadlock_mutex_x86-full-trim-cv-handles.dmp"),
              "rb") as handle:
        data = bytearray(handle.read())
    count, dir_rva = struct.unpack_from("<II", data, 8)
    for i in range(count):
        kind, size, rva = struct.unpack_from("<III", data, dir_rva + 12 * i)
        if kind == 3:                                  # ThreadListStream
            entry = dir_rva + 12 * i
            n = struct.unpack_from("<I", data, rva)[0]
            originals = [data[rva + 4 + 48 * k: rva + 4 + 48 * (k + 1)] for k in range(n)]
            break
    workers = originals[1:]                            # the two deadlocked threads
    out = [struct.pack("<I", threads)]
    for k in range(threads):
        clone = bytearray(workers[k % len(workers)])
        struct.pack_into("<I", clone, 0, 0x10000 + 4 * k)
        out.append(bytes(clone))
    blob = b"".join(out)
    at = (len(data) + 7) & ~7
    data += bytes(at - len(data)) + blob
    struct.pack_into("<III", data, entry, 3, len(blob), at)
    with open(path, "wb") as handle:
        handle.write(data)


def bench_dump(counts=(500, 5000)) -> None:
    from toolkit.targets.open import open_target
    from toolkit.symbols.resolver import Resolver
    from toolkit.waitgraph.builders.minidump import build_from_target

    per_thread = {}
    with tempfile.TemporaryDirectory() as tmp:
        for threads in counts:
            path = os.path.join(tmp, f"threads{threads}.dmp")
            many_thread_dump(threads, path)
            resolver = Resolver.from_symbol_path(os.path.join(SAMPLE, "bin"))
            graph, t_build = timed(lambda: build_from_target(open_target(path), path, resolver))
            report, t_analyse = timed(lambda: analyse(graph))
            per_thread[threads] = (t_build + t_analyse) / threads
            waits = sum(1 for e in graph.edges if e.kind is EdgeKind.WAITS_FOR)
            print(f"dump {threads:>6} threads: build {t_build:6.2f}s  analyse {t_analyse:6.3f}s  "
                  f"{per_thread[threads] * 1e3:6.2f} ms/thread  waits {waits} "
                  f"unowned {len(report.unowned)}")
    print(f"per-thread time ratio {counts[1]}/{counts[0]} threads: "
          f"{per_thread[counts[1]] / per_thread[counts[0]]:.2f} (1.0 = linear)")


if __name__ == "__main__":
    import argparse
    argparse.ArgumentParser(description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    bench_transcripts()
    bench_graph(5000)
    bench_graph(50000)
    bench_dump()
