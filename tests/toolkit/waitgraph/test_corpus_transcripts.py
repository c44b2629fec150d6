"""Every corpus transcript gives the deadlock it shows, and none where it shows none.

Expectations come from reading each file (the reason per file says what it shows); the cycle is
checked as the set of thread ids (pid.tid or kernel thread address) and lock identities in it.
"""

from __future__ import annotations

import pytest

from tests.conftest import corpus_path
from toolkit.waitgraph.analysis import analyse
from toolkit.waitgraph.builders.transcript import build_from_file
from toolkit.waitgraph.model import ThreadNode

# file -> (expected cycles as sets of node displays, reason)
EXPECTED = {
    "gavinshark/DeadLock_ReadMe.md": (
        [{"1914.278", "1914.174", 'CriticalSection "CSLock!cs1" 7ff65e843650',
          'CriticalSection "CSLock!cs2" 7ff65e843628'},
         {"aa8.3ff8", "aa8.3268", r'Mutant "\Sessions\1\BaseNamedObjects\MYMUTEX1" handle 1b0',
          r'Mutant "\Sessions\1\BaseNamedObjects\MYMUTEX2" handle 1b8'}],
        "CS deadlock (~*kv + !cs -l, x64 args matched to listed CSs) and the named mutex pair "
        "(~*kv + !handle f 'Mutant Owner')"),
    "msdocs/-critsec.md": ([], "one locked critical section, no waiter"),
    "msdocs/-cs.md": ([], "!cs listings: locked sections without waiters"),
    "msdocs/-deadlock.md": (
        [{"8d3ba030", "8d15c030", "SpinLock bba2af30", "SpinLock dummy!GlobalLock"},
         {"8d14f750", "8d903030", "SpinLock b7906f30", "SpinLock dummy!GlobalLock (report 2)"}],
        "Driver Verifier !deadlock: A-B / B-A lock-order deadlock, shown twice (summary and "
        "!deadlock 1) with different addresses"),
    "msdocs/-exchain.md": ([], "exception chain only"),
    "msdocs/-handle.md": ([], "handle listings, no mutant owners or waiters"),
    "msdocs/-locks---kdext--locks-.md": ([], "shared ERESOURCE owners, no waiters"),
    "msdocs/-locks---ntsdexts-locks-.md": ([], "two locked critical sections, no waiters"),
    "msdocs/-process.md": ([], "process listings, one thread waiting on an event"),
    "msdocs/-stacks.md": ([], "!stacks summary, no lock information"),
    "msdocs/-thread--set-register-context-.md": ([], "one thread waiting on an event"),
    "msdocs/analyzing-a-stuck-call-problem.md": ([], "RPC call stuck in another process"),
    "msdocs/critical-section-time-outs.md": (
        [], "a blocked chain (16.bd -> CS -> 16.88 -> CS -> 16.6d, which is running), no cycle"),
    "msdocs/debug-universal-drivers--kernel-mode-.md": ([], "driver lab, idle waits only"),
    "msdocs/debugging-a-deadlock.md": (
        [{"1364.a3", "1364.a9", 'CriticalSection 24e750',
          'CriticalSection "isatq!AtqActiveContextList+a8" 68629100'}],
        "!locks + ~ + kb: threads 4 and 6 each wait for the other's critical section"),
    "msdocs/debugging-a-stack-overflow.md": ([], "stack overflow, no locks"),
    "msdocs/displaying-a-critical-section.md": ([], "one CS through several states, no waiter"),
    "msdocs/finding-the-failed-process.md": ([], "!pcr output only"),
    "msdocs/resource-time-outs.md": (
        [], "a blocked chain: ERESOURCE owner e7.e8 waits on an event, no cycle"),
    "msdocs/using-the--analyze-extension.md": ([], "!analyze output of a crash"),
}


def _cycle_sets(relative: str):
    graph = build_from_file(str(corpus_path(f"transcripts/{relative}")))
    report = analyse(graph)
    return report, [{graph.nodes[h.node].display() for h in c.hops} for c in report.cycles]


@pytest.mark.parametrize("relative", sorted(EXPECTED))
def test_corpus_transcript_gives_the_deadlock_it_shows(relative):
    expected, _reason = EXPECTED[relative]
    _report, cycles = _cycle_sets(relative)
    assert sorted(map(sorted, cycles)) == sorted(map(sorted, expected))


def test_every_corpus_transcript_has_an_expectation(corpus):
    present = {str(p.relative_to(corpus / "transcripts")) for p in
               (corpus / "transcripts").rglob("*.md")}
    assert present <= set(EXPECTED), sorted(present - set(EXPECTED))


def test_critical_section_time_out_is_a_chain_to_a_running_owner():
    report, _ = _cycle_sets("msdocs/critical-section-time-outs.md")
    graph = report.graph
    (chain,) = report.chains
    threads = [graph.nodes[h.node].display() for h in chain.hops
               if isinstance(graph.nodes[h.node], ThreadNode)]
    assert threads == ["16.bd", "16.88", "16.6d"]
    assert chain.end == "owner_not_waiting"


def test_resource_time_out_chain_ends_at_an_event_wait():
    report, _ = _cycle_sets("msdocs/resource-time-outs.md")
    (chain,) = report.chains
    owner = report.graph.nodes[chain.hops[2].node]
    assert (owner.pid, owner.tid, owner.kernel_thread) == (0xE7, 0xE8, 0xFFAF5410)
    assert chain.end == "waits_outside"


def test_inconsistent_thread_id_in_the_docs_is_reported_not_guessed():
    report, _ = _cycle_sets("msdocs/debugging-a-deadlock.md")
    assert [p.code for p in report.problems] == ["inconsistent-thread-id"]


def test_mutex_cycle_evidence_names_the_handle_records():
    report, _ = _cycle_sets("gavinshark/DeadLock_ReadMe.md")
    mutex_cycle = next(c for c in report.cycles
                       if "MYMUTEX1" in str([report.graph.nodes[h.node] for h in c.hops]))
    kinds = {e.kind for h in mutex_cycle.hops for e in h.evidence}
    assert kinds == {"frame", "handle"}
