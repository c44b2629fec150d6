"""The wait-for graph: process-qualified threads, the resources they wait on, and who owns those.

Edges go two ways only: a thread WAITS_FOR a resource, a resource is OWNED_BY a thread, so a
deadlock is a cycle that alternates thread -> resource -> thread. Every edge carries the evidence
it was read from (a transcript line, a stack frame, a handle record), because a wait graph built
from text and heuristics is only as good as the reader's ability to check it.

Nodes are joined by identity keys rather than by one id, because different inputs name the same
thing differently: a kd transcript knows a thread by its KTHREAD address *and* its Cid, a user-mode
``!locks`` knows only the thread id, a minidump knows the pid and tid, and a mutex is known by its
object address in one input and by its name in another. ``GraphBuilder`` unions nodes that share
any key (union-find), which is what merging several inputs needs as well.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from toolkit.model.hexfmt import hex_addr, hex_int
from toolkit.model.target import Problem


class ResourceKind(str, enum.Enum):
    """What a thread can wait on. ``eresource`` and ``spinlock`` are kernel locks seen in kd
    transcripts (``!locks``, Driver Verifier's ``!deadlock``)."""

    MUTANT = "mutant"
    CRITICAL_SECTION = "critical_section"
    LOADER_LOCK = "loader_lock"
    DEBUG_PORT = "debug_port"
    EVENT = "event"
    SEMAPHORE = "semaphore"
    THREAD = "thread"
    PROCESS = "process"
    ALPC_PORT = "alpc_port"
    ERESOURCE = "eresource"
    SPINLOCK = "spinlock"
    UNKNOWN = "unknown"

    @property
    def ownable(self) -> bool:
        """Kinds with an owner thread; waits on the others (events, ...) have no one to blame."""
        return self in _OWNABLE

    @property
    def display_name(self) -> str:
        """How text output names the kind ("CriticalSection"). Not ``title``: that would
        shadow ``str.title`` on this str enum."""
        return _TITLES[self]


_OWNABLE = frozenset({ResourceKind.MUTANT, ResourceKind.CRITICAL_SECTION, ResourceKind.LOADER_LOCK,
                      ResourceKind.DEBUG_PORT, ResourceKind.ERESOURCE, ResourceKind.SPINLOCK})
_TITLES = {ResourceKind.MUTANT: "Mutant", ResourceKind.CRITICAL_SECTION: "CriticalSection",
           ResourceKind.LOADER_LOCK: "LoaderLock", ResourceKind.DEBUG_PORT: "DebugPort",
           ResourceKind.EVENT: "Event", ResourceKind.SEMAPHORE: "Semaphore",
           ResourceKind.THREAD: "Thread", ResourceKind.PROCESS: "Process",
           ResourceKind.ALPC_PORT: "AlpcPort", ResourceKind.ERESOURCE: "Resource",
           ResourceKind.SPINLOCK: "SpinLock", ResourceKind.UNKNOWN: "Object"}


class EdgeKind(str, enum.Enum):
    WAITS_FOR = "waits_for"
    OWNED_BY = "owned_by"


class ThreadState(str, enum.Enum):
    WAITING = "waiting"
    RUNNING = "running"          # running, ready, standby: not blocked
    TERMINATED = "terminated"
    UNKNOWN = "unknown"          # only referenced (as an owner), never observed itself


@dataclass(frozen=True)
class Evidence:
    """Where an edge or a node was read: a file and line, and what the line said.

    ``kind`` names the source type: ``line`` (a transcript line), ``frame`` (a stack frame),
    ``handle`` (a handle record), ``memory`` (a structure read from target memory), ``rule``
    (an inference such as the debugger/debuggee rule, whose text explains it).
    """

    source: str
    line: Optional[int]
    text: str
    kind: str = "line"

    def to_json(self) -> Dict[str, Any]:
        return {"source": self.source, "line": self.line, "text": self.text, "kind": self.kind}

    def where(self) -> str:
        return f"{self.source}:{self.line}" if self.line is not None else self.source


@dataclass(frozen=True)
class ThreadNode:
    pid: Optional[int]
    tid: Optional[int]
    kernel_thread: Optional[int] = None     # KTHREAD/ETHREAD address, when a kd transcript gives it
    process_name: Optional[str] = None
    state: ThreadState = ThreadState.UNKNOWN
    label: Optional[str] = None             # for threads known only by position (a bare `kb`)

    def keys(self) -> Tuple[tuple, ...]:
        out: List[tuple] = []
        if self.tid is not None and self.pid is not None:
            out.append(("tid", self.pid, self.tid))
        if self.kernel_thread is not None:
            out.append(("kthread", self.kernel_thread))
        if not out:
            out.append(("anon-thread", self.label or "?"))
        return tuple(out)

    def display(self) -> str:
        if self.tid is not None:
            pid = f"{self.pid:x}" if self.pid is not None else "?"
            return f"{pid}.{self.tid:x}"
        if self.kernel_thread is not None:
            return f"{self.kernel_thread:x}"
        return self.label or "?"

    def to_json(self) -> Dict[str, Any]:
        return {"pid": self.pid, "tid": self.tid, "id": self.display(),
                "kernel_thread": hex_addr(self.kernel_thread, 8), "process": self.process_name,
                "state": self.state.value, "label": self.label}


@dataclass(frozen=True)
class ResourceNode:
    kind: ResourceKind
    name: Optional[str] = None
    handle: Optional[int] = None
    address: Optional[int] = None
    pid: Optional[int] = None               # the process a handle or user-mode address belongs to
    type_name: Optional[str] = None         # as the source spelled it (SynchronizationEvent, ...)
    owner_known: bool = False               # True once some source said who owns it (or nobody)
    label: Optional[str] = None

    def keys(self) -> Tuple[tuple, ...]:
        out: List[tuple] = []
        user_local = self.kind in (ResourceKind.CRITICAL_SECTION, ResourceKind.LOADER_LOCK)
        if self.kind is ResourceKind.DEBUG_PORT and self.pid is not None:
            out.append(("debug_port", self.pid))
        if self.kind is ResourceKind.LOADER_LOCK and self.pid is not None:
            out.append(("loader_lock", self.pid))
        if self.address is not None:
            out.append(("cs", self.pid, self.address) if user_local else ("obj", self.address))
        if self.name:
            out.append(("name", normalize_object_name(self.name)))
        if self.handle is not None and self.pid is not None:
            out.append(("handle", self.pid, self.handle))
        if not out:
            out.append(("anon-resource", self.label or "?"))
        return tuple(out)

    def display(self) -> str:
        title = self.type_name if self.kind is ResourceKind.UNKNOWN and self.type_name \
            else self.kind.display_name
        parts = [title]
        if self.name:
            parts.append(f'"{self.name}"')
        if self.address is not None:
            parts.append(f"{self.address:x}")
        elif self.handle is not None:
            parts.append(f"handle {self.handle:x}")
        if self.kind is ResourceKind.DEBUG_PORT and self.pid is not None:
            parts.append(f"of process {self.pid:x}")
        if len(parts) == 1 and self.label:
            parts.append(self.label)
        return " ".join(parts)

    def to_json(self) -> Dict[str, Any]:
        return {"kind": self.kind.value, "name": self.name, "handle": hex_int(self.handle),
                "address": hex_addr(self.address, 8), "pid": self.pid,
                "type_name": self.type_name, "display": self.display()}


def normalize_object_name(name: str) -> str:
    r"""Object names as they join across inputs: ``\Sessions\1\BaseNamedObjects\X`` and
    ``\BaseNamedObjects\X`` and a bare ``X`` (as ``!object`` prints it) are the same mutex for
    our purpose (same session assumed; a cross-session clash would need the session id)."""
    text = name.strip().strip('"')
    return text.replace("/", "\\").rsplit("\\", 1)[-1].lower()


Node = Any  # ThreadNode | ResourceNode


@dataclass(frozen=True)
class Frame:
    """One stack frame as the source printed it: the call site and the arguments shown."""

    function: str                     # module!symbol (no +offset), or the raw call-site text
    args: Tuple[int, ...]
    evidence: Evidence

    def to_json(self) -> Dict[str, Any]:
        return {"function": self.function, "args": [hex_int(a) for a in self.args],
                "evidence": self.evidence.to_json()}


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    name: Optional[str] = None
    parent_pid: Optional[int] = None
    debug_port: Optional[int] = None   # EPROCESS.DebugPort when the source shows it

    def to_json(self) -> Dict[str, Any]:
        return {"pid": self.pid, "name": self.name, "parent_pid": self.parent_pid,
                "debug_port": hex_addr(self.debug_port, 8)}


@dataclass(frozen=True)
class Edge:
    src: int                          # node index
    dst: int
    kind: EdgeKind
    evidence: Tuple[Evidence, ...]


@dataclass(frozen=True)
class WaitGraph:
    """A built graph: nodes by index, edges, the stacks and processes rules may still read."""

    nodes: Tuple[Node, ...]
    edges: Tuple[Edge, ...]
    stacks: Mapping[int, Tuple[Frame, ...]]        # thread node index -> frames, innermost first
    processes: Tuple[ProcessInfo, ...]
    problems: Tuple[Problem, ...] = ()
    skipped: Tuple[Evidence, ...] = ()             # lines a builder recognised but could not use
    sources: Tuple[str, ...] = ()

    def is_thread(self, index: int) -> bool:
        return isinstance(self.nodes[index], ThreadNode)

    def to_json(self) -> Dict[str, Any]:
        return {"sources": list(self.sources),
                "nodes": [dict(n.to_json(), index=i,
                               node="thread" if isinstance(n, ThreadNode) else "resource")
                          for i, n in enumerate(self.nodes)],
                "edges": [{"from": e.src, "to": e.dst, "kind": e.kind.value,
                           "evidence": [x.to_json() for x in e.evidence]} for e in self.edges],
                "processes": [p.to_json() for p in self.processes],
                "problems": [p.to_json() for p in self.problems],
                "skipped": [s.to_json() for s in self.skipped]}


class GraphBuilder:
    """Collects nodes and edges, joining nodes that share an identity key (union-find).

    Builders and the merger feed it; ``build()`` returns the frozen ``WaitGraph``. Adding a node
    returns a handle (an int) that stays valid across later joins.
    """

    def __init__(self) -> None:
        self._nodes: List[Node] = []
        self._parent: List[int] = []
        self._by_key: Dict[tuple, int] = {}
        self._edges: Dict[Tuple[int, int, EdgeKind], List[Evidence]] = {}
        self._stacks: Dict[int, Tuple[Frame, ...]] = {}
        self._processes: Dict[int, ProcessInfo] = {}
        self.problems: List[Problem] = []
        self.skipped: List[Evidence] = []
        self.sources: List[str] = []

    @classmethod
    def from_graph(cls, graph: "WaitGraph") -> "GraphBuilder":
        """A builder holding ``graph``; handles equal the graph's node indices."""
        builder = cls()
        builder.absorb(graph)
        return builder

    def absorb(self, graph: "WaitGraph") -> List[int]:
        """Add every node, edge, stack and process of ``graph``; returns its node handles."""
        handles = [self.add(node) for node in graph.nodes]
        for e in graph.edges:
            for ev in e.evidence:
                self.edge(handles[e.src], handles[e.dst], e.kind, ev)
        for index, frames in graph.stacks.items():
            self.set_stack(handles[index], frames)
        for info in graph.processes:
            self.process(info)
        self.problems.extend(graph.problems)
        self.skipped.extend(graph.skipped)
        self.sources.extend(graph.sources)
        return handles

    # -- nodes ---------------------------------------------------------------------------
    def find(self, handle: int) -> int:
        root = handle
        while self._parent[root] != root:
            root = self._parent[root]
        while self._parent[handle] != root:          # path compression
            self._parent[handle], handle = root, self._parent[handle]
        return root

    def node(self, handle: int) -> Node:
        return self._nodes[self.find(handle)]

    def add(self, node: Node) -> int:
        """Add a node, or fold it into every existing node that shares one of its keys."""
        hits = {self.find(self._by_key[k]) for k in node.keys() if k in self._by_key}
        if not hits:
            handle = len(self._nodes)
            self._nodes.append(node)
            self._parent.append(handle)
        else:
            handle = min(hits)
            merged = self._nodes[handle]
            for other in sorted(hits - {handle}):
                merged = _combine(merged, self._nodes[other])
                self._parent[other] = handle
            self._nodes[handle] = _combine(merged, node)
        for key in self._nodes[handle].keys():
            self._by_key.setdefault(key, handle)
            if self.find(self._by_key[key]) != handle:
                # an older node with this key: join it too
                other = self.find(self._by_key[key])
                self._nodes[handle] = _combine(self._nodes[handle], self._nodes[other])
                self._parent[other] = handle
        return handle

    def update(self, handle: int, **changes: Any) -> None:
        root = self.find(handle)
        self.add(replace(self._nodes[root], **changes))
        # the replaced node keeps its keys plus new ones; add() folded it into root

    def lookup(self, key: tuple) -> Optional[int]:
        hit = self._by_key.get(key)
        return None if hit is None else self.find(hit)

    # -- edges and side data ---------------------------------------------------------------
    def edge(self, src: int, dst: int, kind: EdgeKind, evidence: Evidence) -> None:
        self._edges.setdefault((src, dst, kind), []).append(evidence)

    def drop_edges(self, src: int, kind: EdgeKind, resource_kinds: Iterable[ResourceKind]) -> None:
        """Remove ``src``'s edges of ``kind`` towards resources of the given kinds."""
        wanted = set(resource_kinds)
        root = self.find(src)
        for key in [k for k in self._edges if k[2] is kind and self.find(k[0]) == root]:
            target = self.node(key[1])
            if isinstance(target, ResourceNode) and target.kind in wanted:
                del self._edges[key]

    def set_stack(self, thread: int, frames: Sequence[Frame]) -> None:
        self._stacks[thread] = tuple(frames)

    def process(self, info: ProcessInfo) -> None:
        old = self._processes.get(info.pid)
        self._processes[info.pid] = info if old is None else ProcessInfo(
            info.pid, info.name or old.name,
            info.parent_pid if info.parent_pid is not None else old.parent_pid,
            info.debug_port if info.debug_port is not None else old.debug_port)

    def threads(self) -> List[int]:
        return [i for i in range(len(self._nodes))
                if self._parent[i] == i and isinstance(self._nodes[i], ThreadNode)]

    def build(self) -> WaitGraph:
        roots = [i for i in range(len(self._nodes)) if self.find(i) == i]
        index = {r: n for n, r in enumerate(roots)}
        merged: Dict[Tuple[int, int, EdgeKind], List[Evidence]] = {}
        for (src, dst, kind), ev in self._edges.items():
            key = (index[self.find(src)], index[self.find(dst)], kind)
            merged.setdefault(key, []).extend(ev)
        stacks: Dict[int, Tuple[Frame, ...]] = {}
        for handle, frames in self._stacks.items():
            if frames:
                stacks[index[self.find(handle)]] = frames
        edges = tuple(Edge(s, d, k, tuple(_dedupe(ev))) for (s, d, k), ev in sorted(
            merged.items(), key=lambda item: (item[0][0], item[0][1], item[0][2].value)))
        return WaitGraph(tuple(self._nodes[r] for r in roots), edges, stacks,
                         tuple(self._processes[p] for p in sorted(self._processes)),
                         tuple(self.problems), tuple(self.skipped), tuple(self.sources))


def _dedupe(items: Iterable[Evidence]) -> List[Evidence]:
    seen = set()
    out = []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def _combine(a: Node, b: Node) -> Node:
    """One node from two descriptions of the same thing: known fields win over unknown ones."""
    if type(a) is not type(b):
        # a thread and a resource cannot share keys (key spaces differ); keep the first
        return a
    if isinstance(a, ThreadNode):
        state = b.state if b.state is not ThreadState.UNKNOWN else a.state
        return ThreadNode(_first(a.pid, b.pid), _first(a.tid, b.tid),
                          _first(a.kernel_thread, b.kernel_thread),
                          _first(a.process_name, b.process_name), state,
                          a.label if (a.tid is not None or a.label) else b.label)
    kind = a.kind if a.kind is not ResourceKind.UNKNOWN else b.kind
    if ResourceKind.LOADER_LOCK in (a.kind, b.kind):
        kind = ResourceKind.LOADER_LOCK
    return ResourceNode(kind, _first(a.name, b.name), _first(a.handle, b.handle),
                        _first(a.address, b.address), _first(a.pid, b.pid),
                        _first(a.type_name, b.type_name), a.owner_known or b.owner_known,
                        _first(a.label, b.label))


def _first(a: Any, b: Any) -> Any:
    return a if a is not None else b


__all__ = ["ResourceKind", "EdgeKind", "ThreadState", "Evidence", "ThreadNode", "ResourceNode",
           "Frame", "ProcessInfo", "Edge", "WaitGraph", "GraphBuilder", "normalize_object_name"]
