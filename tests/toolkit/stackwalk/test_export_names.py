"""Frames in modules without symbol files are named by the exports of the image in the dump."""

from __future__ import annotations

import pytest

from tests.conftest import SAMPLES, corpus_path
from full_dumps import full_dump
from toolkit.targets.open import open_target
from toolkit.targets.pe.image import PeImage
from toolkit.stackwalk.walker import frame_symbols, walk_target
from toolkit.symbols.location import SymbolStatus

pytest.importorskip("symbolic")

DEADLOCK_FULL = "wine/dumps/deadlock-i686-nocrt-ext-full.dmp.xz"


def resolver(symbol_path, tmp_path):
    from toolkit.symbols.resolver import Resolver
    return Resolver.from_symbol_path(str(symbol_path), cache_dir=tmp_path)


@pytest.fixture(scope="module")
def full_report(tmp_path_factory):
    target = open_target(full_dump(DEADLOCK_FULL))
    tmp = tmp_path_factory.mktemp("symcache")
    return target, walk_target(target, resolver(corpus_path("wine/bin"), tmp))


def _chain(stack):
    return [(loc.module, loc.symbol.split("(")[0], loc.status) for loc in stack.locations
            if loc is not None and loc.symbol]


def test_the_waiting_call_above_each_take_second_is_named_by_its_export(full_report):
    # deadlock.c: take_second_cs enters a critical section, take_second_mutex waits on a
    # mutex; the frame just above each in Wine's ntdll / kernelbase is the wait entry point.
    _, report = full_report
    above = {}
    for stack in report.threads:
        chain = _chain(stack)
        for (_, name, _), (_, callee, status) in zip(chain[1:], chain):
            if name.startswith("take_second_"):
                above.setdefault(name, set()).add((callee, status))
    assert above["take_second_cs"] == {("RtlEnterCriticalSection", SymbolStatus.EXPORT)}
    assert above["take_second_mutex"] == {("WaitForSingleObject", SymbolStatus.EXPORT)}


def test_export_names_are_the_nearest_preceding_code_export_of_the_image(full_report):
    target, report = full_report
    modules = {m.name: m for m in target.modules()}
    checked = 0
    for stack in report.threads:
        for frame, loc in zip(stack.frames, stack.locations):
            if loc is None or loc.status is not SymbolStatus.EXPORT:
                continue
            module = modules[loc.module]
            exports = PeImage.from_target(target, module).exports()
            lookup = frame.ip - module.base - (1 if frame.index else 0)
            best = max(e.rva for e in exports
                       if e.name and e.forwarder is None and e.rva <= lookup)
            aliases = sorted(e.name for e in exports if e.rva == best and e.name)
            assert loc.symbol == aliases[0]             # NtX before ZwX
            assert loc.displacement == frame.ip - module.base - best
            assert frame.symbol == loc.symbol          # the Frame carries the name too
            checked += 1
    assert checked >= 10


def test_frame_symbols_names_frames_a_caller_walked_itself(full_report):
    target, report = full_report
    stack = report.threads[1]
    again = frame_symbols(target, stack.frames)        # no resolver: exports only
    for loc, mine in zip(again, stack.locations):
        if mine is not None and mine.status is SymbolStatus.EXPORT:
            assert (loc.symbol, loc.displacement) == (mine.symbol, mine.displacement)
    assert any(loc is not None and loc.symbol == "WaitForSingleObject" for loc in again)


def test_a_trimmed_dump_with_headers_only_gives_no_export_names(tmp_path):
    dump = SAMPLES / "dumps/deadlock_cs_x86-full-trim-cv.dmp"
    if not dump.is_file():
        pytest.skip("sample not built")
    report = walk_target(open_target(dump), resolver(SAMPLES / "bin", tmp_path))
    statuses = {loc.status for s in report.threads for loc in s.locations if loc is not None}
    assert SymbolStatus.EXPORT not in statuses
