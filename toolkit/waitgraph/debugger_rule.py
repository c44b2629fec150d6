"""The debugger/debuggee rule: a debuggee frozen while reporting an event waits for its debugger.

When a debugger is attached, a DLL load, thread creation or exception in the debuggee is sent to
the debug port and the reporting thread sleeps in the kernel until the debugger's event loop
continues the event: its kernel stack shows ``nt!DbgkpQueueMessage`` (under
``DbgkpSendApiMessage`` under ``DbgkMapViewOfSection`` / ``DbgkCreateThread`` /
``DbgkForwardException``). No lock is visible in that wait - the kernel waits on an event inside
the debug message - so without this rule the wait graph sees a thread waiting on an event and the
chain ends there. The rule makes the thread WAIT_FOR the debug port of its process, OWNED_BY the
debugger's event-handling thread: a thread in another process whose stack shows it handling debug
events (``WaitForDebugEvent``, ``ProcessDebugEvent``, dbgeng's event loop, Visual Studio's debug
event thread ...). When several threads qualify, the debuggee's parent process is preferred (a
debugger usually starts its debuggee); if that does not decide, all are kept and a problem says so.

It runs on the merged graph because the debugger and the debuggee may come from different inputs.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

from toolkit.model.target import Problem
from toolkit.waitgraph.model import (
    EdgeKind, Evidence, Frame, GraphBuilder, ProcessInfo, ResourceKind, ResourceNode, ThreadNode,
    WaitGraph)
from toolkit.waitgraph.stack_waits import symbol_name

REPORTING_EVENTS = ("DbgkMapViewOfSection", "DbgkCreateThread", "DbgkForwardException",
                    "DbgkExitThread", "DbgkExitProcess", "DbgkUnMapViewOfSection")
EVENT_LOOP_MARKERS = ("waitfordebugevent", "processdebugevent", "debugeventloop",
                      "debugeventthread", "dbguiwaitstatechange", "handledebugevent",
                      "dispatchdebugevent")
DBGENG_EVENT_MARKERS = ("waitforevent", "notifyloadmoduleevent", "processeventfortarget")


def debuggee_frame(frames: Sequence[Frame]) -> Optional[Tuple[Frame, str]]:
    """The DbgkpQueueMessage frame of a thread frozen for its debugger, and the event it reports."""
    names = [symbol_name(f.function) for f in frames]
    if "DbgkpQueueMessage" not in names:
        return None
    queue = frames[names.index("DbgkpQueueMessage")]
    event = next((n for n in names if n in REPORTING_EVENTS), "a debug event")
    return queue, event


def event_loop_frame(frames: Sequence[Frame]) -> Optional[Frame]:
    """The frame showing a thread handles debug events (the debugger's event thread)."""
    for frame in frames:
        lowered = frame.function.lower()
        name = symbol_name(frame.function).lower()
        if any(m in name for m in EVENT_LOOP_MARKERS):
            return frame
        if lowered.startswith("dbgeng!") and any(m in name for m in DBGENG_EVENT_MARKERS):
            return frame
    return None


def apply_debugger_rule(graph: WaitGraph) -> WaitGraph:
    """``graph`` plus debug-port edges for every thread frozen in DbgkpQueueMessage."""
    debuggees: List[Tuple[int, Frame, str]] = []
    loops: List[Tuple[int, Frame]] = []
    for index, frames in graph.stacks.items():
        node = graph.nodes[index]
        if not isinstance(node, ThreadNode):
            continue
        found = debuggee_frame(frames)
        if found:
            debuggees.append((index, found[0], found[1]))
            continue
        loop = event_loop_frame(frames)
        if loop is not None:
            loops.append((index, loop))
    if not debuggees:
        return graph
    builder = GraphBuilder.from_graph(graph)
    processes: Dict[int, ProcessInfo] = {p.pid: p for p in graph.processes}
    for index, frame, event in debuggees:
        thread = graph.nodes[index]
        pid = thread.pid
        info = processes.get(pid) if pid is not None else None
        port = builder.add(ResourceNode(
            ResourceKind.DEBUG_PORT, None, None, info.debug_port if info else None, pid,
            "DebugObject", owner_known=True,
            label=None if pid is not None else f"debug port of thread {thread.display()}"))
        builder.drop_edges(index, EdgeKind.WAITS_FOR, (ResourceKind.EVENT, ResourceKind.UNKNOWN))
        builder.edge(index, port, EdgeKind.WAITS_FOR, Evidence(
            frame.evidence.source, frame.evidence.line,
            f"{frame.evidence.text}  [frozen reporting {event} to the debugger]", "rule"))
        candidates = [(i, f) for i, f in loops
                      if graph.nodes[i].pid is None or graph.nodes[i].pid != pid]
        parent = info.parent_pid if info else None
        preferred = [(i, f) for i, f in candidates if graph.nodes[i].pid == parent]
        chosen = preferred or candidates
        if not chosen:
            builder.problems.append(Problem(
                "debugger-not-found",
                f"thread {thread.display()} waits for its debugger, but no thread in the input "
                f"shows a debug-event loop"))
        elif len(chosen) > 1:
            builder.problems.append(Problem(
                "several-debugger-candidates",
                (f"debug port of process {pid:x}: " if pid is not None else "debug port: ")
                + ", ".join(graph.nodes[i].display() for i, _ in chosen)
                + " all show a debug-event loop; kept all as owners"))
        for i, f in chosen:
            builder.edge(port, i, EdgeKind.OWNED_BY, Evidence(
                f.evidence.source, f.evidence.line,
                f"{f.evidence.text}  [debug-event loop: this thread continues the debuggee]",
                "rule"))
    return builder.build()


__all__ = ["apply_debugger_rule", "debuggee_frame", "event_loop_frame"]
