"""Deadlocks, blocked chains and unowned waits in a wait graph, in time linear in its size.

* A **deadlock** is a strongly connected component with a cycle in it (thread -> resource ->
  thread -> ...). Components come from an iterative Tarjan (no recursion, so a chain of 100 000
  threads cannot hit Python's recursion limit); one concrete cycle per component is printed.
* A **blocked chain** starts at a head thread (a waiting thread nobody waits for) and follows
  waits-for and owned-by edges until it reaches a deadlock, an owner that exited / is unknown /
  is not waiting, a resource nobody owns, or a wait on something outside the graph (an event:
  no owner to follow). Chains that share a tail stop where they meet an earlier chain
  ("joins chain N") so the total work and output stay linear.
* **Unowned waits**: waits on a lockable resource (mutant, critical section, ...) for which no
  owner is known - either the source said "not owned" or it said nothing.
* A thread waiting on a mutant or critical section **it owns itself** is not blocked by it
  (both are recursive): that wait is left out of the analysis and reported as a problem
  (``waitgraph.owner_waits_on_own_lock``), never as a cycle.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from toolkit.model.target import Problem
from toolkit.waitgraph.model import (
    EdgeKind, Evidence, ResourceKind, ResourceNode, ThreadNode, ThreadState, WaitGraph)


@dataclass(frozen=True)
class Hop:
    """One node on a path and the evidence for the edge that leads *out* of it.

    Evidence already cited by an earlier hop of the same path is not repeated: one line often
    states two edges (a waiter's ``Mutant - owning thread X`` line gives both the wait and the
    owner; Driver Verifier's ``Thread 0: A B`` gives an ownership and a wait), and a path
    quotes it where it first applies.
    """

    node: int
    evidence: Tuple[Evidence, ...]


@dataclass(frozen=True)
class Cycle:
    hops: Tuple[Hop, ...]            # closed: the last hop's edge leads back to hops[0]
    members: Tuple[int, ...]         # every node of the strongly connected component

    @property
    def threads(self) -> Tuple[int, ...]:
        return tuple(h.node for h in self.hops[::2])


@dataclass(frozen=True)
class Chain:
    head: int
    hops: Tuple[Hop, ...]            # head first; the last hop's node is where the chain ends
    end: str                         # see END_KINDS
    cycle: Optional[int] = None      # index into cycles when end == "cycle"
    joins: Optional[int] = None      # index of the earlier chain this one runs into


END_KINDS = {
    "cycle": "hangs off a deadlock",
    "owner_not_waiting": "the owner is not waiting (running or ready)",
    "owner_exited": "the owner has exited",
    "owner_unknown": "the owner's own state is not in the input",
    "waits_outside": "the last thread waits on an object without an owner to follow",
    "unowned": "the resource is not owned",
    "owner_not_known": "nobody said who owns the resource",
    "joins": "runs into an earlier chain",
}


@dataclass(frozen=True)
class UnownedWait:
    thread: int
    resource: int
    owner_known: bool                 # True: a source said "not owned"; False: no owner info
    evidence: Tuple[Evidence, ...]


@dataclass(frozen=True)
class DeadlockReport:
    graph: WaitGraph
    cycles: Tuple[Cycle, ...]
    chains: Tuple[Chain, ...]
    unowned: Tuple[UnownedWait, ...]
    problems: Tuple[Problem, ...]

    def to_json(self) -> Dict[str, Any]:
        g = self.graph

        def node(i: int) -> Dict[str, Any]:
            n = g.nodes[i]
            return dict(n.to_json(), node="thread" if isinstance(n, ThreadNode) else "resource")

        def hops(hs: Sequence[Hop]) -> List[Dict[str, Any]]:
            return [{"node": node(h.node), "evidence": [e.to_json() for e in h.evidence]}
                    for h in hs]

        threads = sum(1 for n in g.nodes if isinstance(n, ThreadNode))
        return {
            "sources": list(g.sources),
            "summary": {"threads": threads, "resources": len(g.nodes) - threads,
                        "edges": len(g.edges), "deadlocks": len(self.cycles),
                        "blocked_chains": len(self.chains), "unowned_waits": len(self.unowned)},
            "deadlocks": [{"cycle": hops(c.hops), "threads": [node(t) for t in c.threads],
                           "component_size": len(c.members)} for c in self.cycles],
            "blocked_chains": [{"head": node(c.head), "path": hops(c.hops), "end": c.end,
                                "end_reason": END_KINDS[c.end], "cycle": c.cycle,
                                "joins_chain": c.joins} for c in self.chains],
            "unowned_waits": [{"thread": node(u.thread), "resource": node(u.resource),
                               "owner_known": u.owner_known,
                               "evidence": [e.to_json() for e in u.evidence]}
                              for u in self.unowned],
            "problems": [p.to_json() for p in self.problems],
            "skipped": [s.to_json() for s in g.skipped],
        }


def strongly_connected(count: int, successors: Sequence[Sequence[int]]) -> List[List[int]]:
    """Tarjan's algorithm without recursion; components come out sinks first."""
    index = [-1] * count
    low = [0] * count
    on_stack = [False] * count
    stack: List[int] = []
    components: List[List[int]] = []
    counter = 0
    for root in range(count):
        if index[root] != -1:
            continue
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = True
        work = [(root, 0)]
        while work:
            v, i = work[-1]
            succ = successors[v]
            if i < len(succ):
                work[-1] = (v, i + 1)
                w = succ[i]
                if index[w] == -1:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack[w] = True
                    work.append((w, 0))
                elif on_stack[w] and index[w] < low[v]:
                    low[v] = index[w]
                continue
            work.pop()
            if work:
                u = work[-1][0]
                if low[v] < low[u]:
                    low[u] = low[v]
            if low[v] == index[v]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack[w] = False
                    component.append(w)
                    if w == v:
                        break
                components.append(component)
    return components


def analyse(graph: WaitGraph) -> DeadlockReport:
    """Every deadlock, blocked chain and unowned wait in ``graph``."""
    n = len(graph.nodes)
    succ: List[List[int]] = [[] for _ in range(n)]
    evidence: Dict[Tuple[int, int], Tuple[Evidence, ...]] = {}
    has_waiter = [False] * n
    owners = {(e.src, e.dst) for e in graph.edges if e.kind is EdgeKind.OWNED_BY}
    problems = list(graph.problems)
    for e in graph.edges:
        if e.kind is EdgeKind.WAITS_FOR and (e.dst, e.src) in owners and \
                _recursive(graph.nodes[e.dst]):
            problems.append(_self_wait(graph, e.src, e.dst, e.evidence))
            continue
        succ[e.src].append(e.dst)
        evidence[(e.src, e.dst)] = e.evidence
        if e.kind is EdgeKind.WAITS_FOR:
            has_waiter[e.dst] = True
    components = strongly_connected(n, succ)
    cycle_of = [-1] * n
    cycles: List[Cycle] = []
    for component in reversed(components):          # sources first: stable, readable order
        if len(component) == 1 and component[0] not in succ[component[0]]:
            continue
        for v in component:
            cycle_of[v] = len(cycles)
        cycles.append(_one_cycle(graph, component, succ, evidence))
    chains = _chains(graph, succ, evidence, has_waiter, cycle_of)
    unowned = _unowned(graph, succ, evidence)
    return DeadlockReport(graph, tuple(cycles), tuple(chains), tuple(unowned), tuple(problems))


# Acquiring these again from the owning thread succeeds at once (a mutant counts its
# recursions, as does a critical section, the loader lock included), so a thread "waiting" on one
# it owns is not blocked by it: the wait was stale, or read from the wrong lines.
_RECURSIVE = frozenset({ResourceKind.MUTANT, ResourceKind.CRITICAL_SECTION,
                        ResourceKind.LOADER_LOCK})


def _recursive(node: object) -> bool:
    return isinstance(node, ResourceNode) and node.kind in _RECURSIVE


def _self_wait(graph: WaitGraph, thread: int, resource: int,
               evidence: Tuple[Evidence, ...]) -> Problem:
    t, r = graph.nodes[thread], graph.nodes[resource]
    assert isinstance(t, ThreadNode) and isinstance(r, ResourceNode)
    where = f" ({evidence[0].where()})" if evidence else ""
    return Problem("waitgraph.owner_waits_on_own_lock",
                   f"thread {t.display()} waits for {r.display()}, which it owns itself{where}:"
                   f" {r.kind.display_name} acquisition is recursive, so this is no deadlock")


def _path_hops(path: List[int], evidence: Dict[Tuple[int, int], Tuple[Evidence, ...]],
               close_to: Optional[int] = None) -> Tuple[Hop, ...]:
    """Hops along ``path`` (closed back to ``close_to`` for a cycle), each edge's evidence
    minus what an earlier hop of the path already cites."""
    cited: set = set()
    hops = []
    for i, v in enumerate(path):
        nxt = path[i + 1] if i + 1 < len(path) else close_to
        edge = evidence.get((v, nxt), ()) if nxt is not None else ()
        fresh = tuple(ev for ev in edge if ev not in cited)
        cited.update(fresh)
        hops.append(Hop(v, fresh))
    return tuple(hops)


def _one_cycle(graph: WaitGraph, component: List[int], succ: List[List[int]],
               evidence: Dict[Tuple[int, int], Tuple[Evidence, ...]]) -> Cycle:
    """A shortest cycle through the component's first thread (BFS inside the component)."""
    members = set(component)
    threads = sorted(v for v in component if isinstance(graph.nodes[v], ThreadNode))
    start = threads[0] if threads else min(component)
    parent: Dict[int, int] = {start: -1}
    queue = deque([start])
    last = start
    while queue:
        v = queue.popleft()
        if start in succ[v]:
            last = v
            break
        for w in succ[v]:
            if w in members and w not in parent:
                parent[w] = v
                queue.append(w)
    path = [last]
    while parent.get(path[-1], -1) != -1:
        path.append(parent[path[-1]])
    path.reverse()
    return Cycle(_path_hops(path, evidence, close_to=start), tuple(sorted(component)))


def _next(graph: WaitGraph, v: int, succ: List[List[int]], cycle_of: List[int]) -> Optional[int]:
    """Which edge a chain follows: into a deadlock first, then towards an owner, lowest index."""
    options = succ[v]
    if not options:
        return None

    def rank(w: int) -> Tuple[int, int]:
        node = graph.nodes[w]
        if cycle_of[w] >= 0:
            return (0, w)
        if isinstance(node, ResourceNode) and succ[w]:
            return (1, w)
        if isinstance(node, ResourceNode) and node.kind.ownable:
            return (2, w)
        return (3, w)

    return min(options, key=rank)


def _chains(graph: WaitGraph, succ: List[List[int]],
            evidence: Dict[Tuple[int, int], Tuple[Evidence, ...]], has_waiter: List[bool],
            cycle_of: List[int]) -> List[Chain]:
    n = len(graph.nodes)
    waited_on = [False] * n               # a thread owning something another thread waits for
    for v in range(n):
        if isinstance(graph.nodes[v], ResourceNode) and has_waiter[v]:
            for owner in succ[v]:
                waited_on[owner] = True
    chain_of = [-1] * n
    chains: List[Chain] = []
    heads = [v for v in range(n) if isinstance(graph.nodes[v], ThreadNode) and succ[v]
             and not waited_on[v] and cycle_of[v] < 0]
    heads += [v for v in range(n) if isinstance(graph.nodes[v], ThreadNode) and succ[v]
              and waited_on[v] and cycle_of[v] < 0]     # heads of pure in-trees into cycles
    for head in heads:
        if chain_of[head] >= 0:
            continue
        path = [head]
        end, cycle, joins = "", None, None
        chain_of[head] = len(chains)
        v = head
        while True:
            w = _next(graph, v, succ, cycle_of)
            if w is None:
                end = _end_kind(graph, v)
                break
            path.append(w)
            if cycle_of[w] >= 0:
                end, cycle = "cycle", cycle_of[w]
                if isinstance(graph.nodes[w], ResourceNode):    # name the deadlocked owner
                    deadlocked = _next(graph, w, succ, cycle_of)
                    if deadlocked is not None:
                        path.append(deadlocked)
                break
            if chain_of[w] >= 0:
                end, joins = "joins", chain_of[w]
                break
            chain_of[w] = len(chains)
            v = w
        if len(path) < 3 and end not in ("cycle", "joins"):
            continue                      # a bare wait with no owner to follow: not a chain
        chains.append(Chain(head, _path_hops(path, evidence), end, cycle, joins))
    return chains


def _end_kind(graph: WaitGraph, v: int) -> str:
    node = graph.nodes[v]
    if isinstance(node, ThreadNode):
        if node.state is ThreadState.TERMINATED:
            return "owner_exited"
        if node.state is ThreadState.RUNNING:
            return "owner_not_waiting"
        return "owner_unknown"
    if not node.kind.ownable:
        return "waits_outside"
    return "unowned" if node.owner_known else "owner_not_known"


def _unowned(graph: WaitGraph, succ: List[List[int]],
             evidence: Dict[Tuple[int, int], Tuple[Evidence, ...]]) -> List[UnownedWait]:
    out = []
    for e in graph.edges:
        if e.kind is not EdgeKind.WAITS_FOR:
            continue
        target = graph.nodes[e.dst]
        if isinstance(target, ResourceNode) and target.kind.ownable and not succ[e.dst]:
            out.append(UnownedWait(e.src, e.dst, target.owner_known, e.evidence))
    return out


__all__ = ["Hop", "Cycle", "Chain", "UnownedWait", "DeadlockReport", "END_KINDS", "analyse",
           "strongly_connected"]
