"""The minidump builder on real dumps: waits from walked stacks, owners from memory and handles.

Facts come from samples/EXPECTED.json (the shipped Wine samples) and corpus/wine/SUMMARY.md
(the corpus Wine full dumps), never typed in here.
"""

from __future__ import annotations

import json
import re

import pytest
from full_dumps import full_dump

from parsers.nt_tib import RTL_CRITICAL_SECTION32
from tests.conftest import SAMPLES, corpus_path
from toolkit.targets.open import open_target
from toolkit.symbols.resolver import Resolver
from toolkit.waitgraph.analysis import analyse
from toolkit.waitgraph.builders.minidump import (
    build_from_target,
    decode_lock_count,
    read_critical_section,
)
from toolkit.waitgraph.inputs import load_graph
from toolkit.waitgraph.model import EdgeKind, ResourceKind, ResourceNode, ThreadNode

EXPECTED = json.loads((SAMPLES / "EXPECTED.json").read_text())["dumps"]
BIN = str(SAMPLES / "bin")


def _graph(name: str, symbol_path: str = BIN):
    path = SAMPLES / "dumps" / name
    return build_from_target(open_target(str(path)), name, Resolver.from_symbol_path(symbol_path))


def _waits(graph):
    """{waiting tid: resource node} from the WAITS_FOR edges."""
    return {graph.nodes[e.src].tid: graph.nodes[e.dst] for e in graph.edges
            if e.kind is EdgeKind.WAITS_FOR}


def _owners(graph):
    """{resource node index: owner tid} from the OWNED_BY edges."""
    return {e.src: graph.nodes[e.dst].tid for e in graph.edges if e.kind is EdgeKind.OWNED_BY}


def _cycle_tids(report):
    assert len(report.cycles) == 1, report.cycles
    return sorted(report.graph.nodes[i].tid for i in report.cycles[0].threads)


# -- LockCount ---------------------------------------------------------------------------------

def test_new_lock_count_encoding_counts_waiters_from_the_ones_complement():
    # the docs' example: LockCount -22 = locked, no waiter woken, 5 waiting
    assert decode_lock_count(-22, True) == (True, 5)
    assert decode_lock_count(-1, True) == (False, 0)


def test_old_lock_count_encoding_is_minus_one_when_free():
    assert decode_lock_count(-1, False) == (False, 0)
    assert decode_lock_count(5, False) == (True, 5)


def test_lock_count_encoding_is_decided_by_the_value_when_not_given():
    assert decode_lock_count(1) == (True, 1)        # NT5: never below -1
    assert decode_lock_count(-6) == (True, 1)       # Vista+: never above -1


@pytest.mark.parametrize("name", ["deadlock_cs_x86-full-trim-cv.dmp",
                                  "deadlock_cs_x64-full-trim-cv.dmp"])
def test_critical_sections_read_from_memory_match_the_program_report(name):
    target = open_target(str(SAMPLES / "dumps" / name))
    for cs in EXPECTED["dumps/" + name]["critical_sections"]:
        state = read_critical_section(target, int(cs["address"], 16))
        assert (state.owning_thread, state.lock_count, state.recursion_count) == \
            (cs["owner_tid"], cs["lock_count"], cs["recursion_count"])
        assert state.locked and state.encoding == "nt5"


def test_rtl_critical_section_struct_round_trips_on_dump_bytes():
    target = open_target(str(SAMPLES / "dumps" / "deadlock_cs_x86-full-trim-cv.dmp"))
    cs = EXPECTED["dumps/deadlock_cs_x86-full-trim-cv.dmp"]["critical_sections"][0]
    raw = target.read(int(cs["address"], 16), RTL_CRITICAL_SECTION32.sizeof())
    assert RTL_CRITICAL_SECTION32.build(RTL_CRITICAL_SECTION32.parse(raw)) == raw


# -- the shipped Wine samples ------------------------------------------------------------------

@pytest.mark.parametrize("name", ["deadlock_cs_x86-full-trim-cv.dmp",
                                  "deadlock_cs_x64-full-trim-cv.dmp"])
def test_critical_section_cycle_is_found_with_owners_from_memory(name):
    facts = EXPECTED["dumps/" + name]["critical_sections"]
    graph = _graph(name)
    waits = _waits(graph)
    for cs in facts:
        for tid in cs["waiting_tids"]:
            assert waits[tid].kind is ResourceKind.CRITICAL_SECTION
            assert waits[tid].address == int(cs["address"], 16)
    owners = {graph.nodes[i].address: tid for i, tid in _owners(graph).items()}
    assert owners == {int(cs["address"], 16): cs["owner_tid"] for cs in facts}
    assert _cycle_tids(analyse(graph)) == sorted(cs["owner_tid"] for cs in facts)


@pytest.mark.parametrize("name", ["deadlock_mutex_x86-full-trim-cv-handles.dmp",
                                  "deadlock_mutex_x64-full-trim-cv-handles.dmp"])
def test_mutex_cycle_is_found_from_the_handle_data_stream(name):
    facts = EXPECTED["dumps/" + name]["mutexes"]
    graph = _graph(name)
    waits = _waits(graph)
    for mutex in facts:
        for tid in mutex["waiting_tids"]:
            assert waits[tid].kind is ResourceKind.MUTANT
            assert waits[tid].handle == int(mutex["handle"], 16)
            assert waits[tid].name == mutex["object_name"]
    owners = {graph.nodes[i].handle: tid for i, tid in _owners(graph).items()}
    assert owners == {int(m["handle"], 16): m["owner_tid"] for m in facts}
    assert _cycle_tids(analyse(graph)) == sorted(m["owner_tid"] for m in facts)


def test_x64_argument_recovery_says_how_each_value_was_found():
    graph = _graph("deadlock_cs_x64-full-trim-cv.dmp")
    texts = [ev.text for e in graph.edges if e.kind is EdgeKind.WAITS_FOR for ev in e.evidence
             if "EnterCriticalSection" in ev.text]
    assert len(texts) == 2 and all("kept in non-volatile rsi" in t for t in texts)
    mutex = _graph("deadlock_mutex_x64-full-trim-cv-handles.dmp")
    texts = [ev.text for e in mutex.edges if e.kind is EdgeKind.WAITS_FOR for ev in e.evidence
             if isinstance(mutex.nodes[e.dst], ResourceNode)
             and mutex.nodes[e.dst].kind is ResourceKind.MUTANT]
    assert len(texts) == 2 and all("passed through from the caller's caller" in t for t in texts)


def test_x64_unrecoverable_argument_is_reported_unknown_with_the_reason():
    graph = _graph("deadlock_cs_x64-full-trim-cv.dmp")
    unknown = [p.message for p in graph.problems if p.code == "wait-argument-unknown"]
    main_tid = next(t["tid"] for t in EXPECTED["dumps/deadlock_cs_x64-full-trim-cv.dmp"]["threads"]
                    if t["role"] == "main")
    assert len(unknown) == 1 and f"thread {main_tid:x} waits in WaitForSingleObject" in unknown[0]
    assert "computed by" in unknown[0]


def test_normal_cs_dump_gives_no_false_cycle_and_names_the_missing_memory():
    graph = _graph("deadlock_cs_x86-normal.dmp")
    report = analyse(graph)
    assert report.cycles == ()
    facts = EXPECTED["dumps/deadlock_cs_x86-normal.dmp"]["critical_sections"]
    missing = {p.message for p in graph.problems if p.code == "no-cs-memory"}
    assert len(missing) == len(facts)
    assert all(any(cs["address"] in m for m in missing) for cs in facts)
    waited = {r.address for r in _waits(graph).values() if r.kind is ResourceKind.CRITICAL_SECTION}
    assert waited == {int(cs["address"], 16) for cs in facts}


@pytest.mark.parametrize("name", ["deadlock_mutex_x86-normal.dmp", "deadlock_cs_x86-normal.dmp"])
def test_normal_dumps_name_the_missing_handle_data(name):
    graph = _graph(name)
    assert analyse(graph).cycles == ()
    assert "no-handle-data" in [p.code for p in graph.problems]


def test_normal_mutex_dump_knows_the_waited_handles_but_not_their_owners():
    facts = EXPECTED["dumps/deadlock_mutex_x86-normal.dmp"]["mutexes"]
    waits = _waits(_graph("deadlock_mutex_x86-normal.dmp"))
    for mutex in facts:
        for tid in mutex["waiting_tids"]:
            assert waits[tid].handle == int(mutex["handle"], 16)
            assert waits[tid].kind is ResourceKind.UNKNOWN


def test_without_symbols_the_waits_through_import_thunks_are_not_recognised():
    path = str(SAMPLES / "dumps" / "deadlock_cs_x86-full-trim-cv.dmp")
    graph = build_from_target(open_target(path), path, None)
    assert not any(isinstance(n, ResourceNode) and n.kind is ResourceKind.CRITICAL_SECTION
                   for n in graph.nodes)
    assert analyse(graph).cycles == ()


def test_a_dump_without_stacks_still_lists_threads_and_says_what_is_missing():
    graph = load_graph(str(corpus_path("breakpad/processor/minidump2.dmp")))
    assert sum(isinstance(n, ThreadNode) for n in graph.nodes) == 2
    assert "no-handle-data" in [p.code for p in graph.problems]


# -- the corpus Wine full dumps ----------------------------------------------------------------

def _summary_owners(stem: str):
    text = corpus_path("wine/SUMMARY.md").read_text()
    row = next(l for l in text.splitlines() if l.startswith(f"| {stem} |"))
    return sorted(int(x) for x in re.findall(r"cs\d:owner=(\d+)", row))


@pytest.fixture(scope="session")
def wine_full_dumps():
    folder = corpus_path("wine/dumps")
    paths = [full_dump(f"wine/dumps/{packed.name}")
             for packed in sorted(folder.glob("deadlock-*-full.dmp.xz"))]
    if not paths:
        pytest.skip("no corpus/wine/dumps/deadlock-*-full.dmp.xz")
    return paths


def test_corpus_wine_full_dumps_give_the_critical_section_cycle(wine_full_dumps):
    symbols = str(corpus_path("wine/bin"))
    for path in wine_full_dumps:
        graph = build_from_target(open_target(str(path)), path.name,
                                  Resolver.from_symbol_path(symbols))
        owners = _summary_owners(path.name[:-4])
        assert sorted(_owners(graph).values()) == owners, path.name
        assert _cycle_tids(analyse(graph)) == owners, path.name
