"""Cycle, chain and unowned-wait analysis on graphs built directly (no text involved)."""

from __future__ import annotations

from toolkit.waitgraph.analysis import analyse, strongly_connected
from toolkit.waitgraph.model import (
    EdgeKind, Evidence, GraphBuilder, ResourceKind, ResourceNode, ThreadNode, ThreadState)

EV = Evidence("test", 1, "line")


def _lock(b, n, owner=None, kind=ResourceKind.MUTANT):
    r = b.add(ResourceNode(kind, f"m{n}", address=0x1000 + n, owner_known=owner is not None))
    if owner is not None:
        b.edge(r, owner, EdgeKind.OWNED_BY, EV)
    return r


def _thread(b, tid, state=ThreadState.WAITING):
    return b.add(ThreadNode(1, tid, state=state))


def test_tarjan_handles_a_chain_far_deeper_than_the_recursion_limit():
    n = 50_000
    succ = [[i + 1] for i in range(n - 1)] + [[0]]
    (component,) = strongly_connected(n, succ)
    assert len(component) == n


def test_two_threads_holding_each_others_lock_are_a_deadlock():
    b = GraphBuilder()
    t1, t2 = _thread(b, 1), _thread(b, 2)
    b.edge(t1, _lock(b, 1, t2), EdgeKind.WAITS_FOR, EV)
    b.edge(t2, _lock(b, 2, t1), EdgeKind.WAITS_FOR, EV)
    report = analyse(b.build())
    assert len(report.cycles) == 1 and len(report.cycles[0].threads) == 2


def test_chain_to_an_exited_owner_is_reported_with_its_head():
    b = GraphBuilder()
    t1 = _thread(b, 1)
    gone = _thread(b, 2, ThreadState.TERMINATED)
    b.edge(t1, _lock(b, 1, gone), EdgeKind.WAITS_FOR, EV)
    (chain,) = analyse(b.build()).chains
    assert (chain.head, chain.end) == (t1, "owner_exited")


def test_wait_on_an_unowned_lock_is_listed():
    b = GraphBuilder()
    t1 = _thread(b, 1)
    free = b.add(ResourceNode(ResourceKind.CRITICAL_SECTION, address=0x10, pid=1,
                              owner_known=True))
    b.edge(t1, free, EdgeKind.WAITS_FOR, EV)
    report = analyse(b.build())
    assert [(u.thread, u.owner_known) for u in report.unowned] == [(t1, True)]
    assert report.chains == ()


def test_waits_on_events_are_not_unowned_waits():
    b = GraphBuilder()
    t1 = _thread(b, 1)
    b.edge(t1, b.add(ResourceNode(ResourceKind.EVENT, address=0x20)), EdgeKind.WAITS_FOR, EV)
    report = analyse(b.build())
    assert (report.unowned, report.chains, report.cycles) == ((), (), ())


def test_many_waiters_on_one_chain_share_its_tail():
    b = GraphBuilder()
    owner = _thread(b, 1, ThreadState.RUNNING)
    lock = _lock(b, 1, owner)
    for tid in range(2, 1002):
        b.edge(_thread(b, tid), lock, EdgeKind.WAITS_FOR, EV)
    report = analyse(b.build())
    assert len(report.chains) == 1000
    assert sum(c.end == "joins" for c in report.chains) == 999


def test_nodes_sharing_a_key_are_joined():
    b = GraphBuilder()
    by_cid = b.add(ThreadNode(0x10, 0x20))
    by_address = b.add(ThreadNode(None, None, 0xFFFF0000))
    both = b.add(ThreadNode(0x10, 0x20, 0xFFFF0000, "a.exe"))
    assert b.find(by_cid) == b.find(by_address) == b.find(both)
    assert len(b.build().nodes) == 1


def test_named_objects_join_across_namespaces():
    b = GraphBuilder()
    a = b.add(ResourceNode(ResourceKind.MUTANT, r"\Sessions\1\BaseNamedObjects\X", address=0x1))
    c = b.add(ResourceNode(ResourceKind.UNKNOWN, "X"))
    assert b.find(a) == b.find(c)


def test_public_api_is_pinned():
    import toolkit.waitgraph as wg
    assert wg.__all__ == ["DeadlockReport", "WaitGraph", "analyse", "load_graph", "merge_graphs",
                          "report_for_graphs", "report_for_paths"]


def test_a_thread_waiting_on_a_mutant_it_owns_is_no_deadlock():
    b = GraphBuilder()
    t1 = _thread(b, 1)
    b.edge(t1, _lock(b, 1, t1), EdgeKind.WAITS_FOR, EV)
    report = analyse(b.build())
    assert report.cycles == () and report.chains == () and report.unowned == ()
    assert [p.code for p in report.problems] == ["waitgraph.owner_waits_on_own_lock"]


def test_a_critical_section_re_entered_by_its_owner_is_no_deadlock():
    b = GraphBuilder()
    t1 = _thread(b, 1)
    b.edge(t1, _lock(b, 1, t1, ResourceKind.CRITICAL_SECTION), EdgeKind.WAITS_FOR, EV)
    assert analyse(b.build()).cycles == ()


def test_a_spinlock_its_owner_spins_on_is_still_a_deadlock():
    b = GraphBuilder()
    t1 = _thread(b, 1)
    b.edge(t1, _lock(b, 1, t1, ResourceKind.SPINLOCK), EdgeKind.WAITS_FOR, EV)
    (cycle,) = analyse(b.build()).cycles
    assert cycle.threads == (t1,)


def test_a_waiter_blocked_behind_a_self_waiting_owner_ends_at_that_owner():
    b = GraphBuilder()
    owner, waiter = _thread(b, 1), _thread(b, 2)
    mutex = _lock(b, 1, owner)
    b.edge(owner, mutex, EdgeKind.WAITS_FOR, EV)
    b.edge(waiter, mutex, EdgeKind.WAITS_FOR, Evidence("test", 2, "other line"))
    report = analyse(b.build())
    assert report.cycles == ()
    (chain,) = report.chains
    assert (chain.head, chain.hops[-1].node) == (waiter, owner)


def test_a_line_stating_two_edges_of_a_path_is_cited_once():
    b = GraphBuilder()
    t1, t2 = _thread(b, 1), _thread(b, 2)
    both = Evidence("test", 7, "m1 - owning thread 2")   # t1's wait line names the owner too
    m1 = b.add(ResourceNode(ResourceKind.MUTANT, "m1", address=0x1001, owner_known=True))
    b.edge(t1, m1, EdgeKind.WAITS_FOR, both)
    b.edge(m1, t2, EdgeKind.OWNED_BY, both)
    b.edge(t2, _lock(b, 2, t1), EdgeKind.WAITS_FOR, EV)
    (cycle,) = analyse(b.build()).cycles
    cited = [ev for hop in cycle.hops for ev in hop.evidence]
    assert cited.count(both) == 1 and len(cited) == len(set(cited))
