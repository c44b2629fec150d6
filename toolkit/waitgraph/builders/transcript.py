"""Debugger transcript -> wait graph.

``transcript_parse`` recognises the records; this module resolves what the text leaves implicit
and turns records into nodes and edges:

* user-mode thread numbers (``0:021>``, ``~4 kb``) become pid.tid through the ``~`` listings, read
  at the end because a listing often comes after the stacks it explains;
* ``!locks`` / ``!cs`` give owners as bare thread ids: the process is the one the listing was taken
  in (the last ``Id: pid.tid`` line before it), else the only process with such a thread;
* a later listing of the same critical section supersedes an earlier one (a transcript is a
  time series: the docs show one critical section through several states);
* stack waits (critical sections, ERESOURCEs, handles) are judged by ``stack_waits`` against the
  locks and handles the transcript lists.
"""

from __future__ import annotations

import re
from typing import Dict, Optional, Set, Tuple

from toolkit.model.target import Problem
from toolkit.waitgraph.builders.transcript_parse import (
    CSRecord, ThreadObs, Transcript, parse_transcript)
from toolkit.waitgraph.model import (
    EdgeKind, Evidence, GraphBuilder, ProcessInfo, ResourceKind, ResourceNode, ThreadNode,
    ThreadState, WaitGraph)
from toolkit.waitgraph.stack_waits import recognise_waits

_TYPE_KINDS = {"mutant": ResourceKind.MUTANT, "semaphore": ResourceKind.SEMAPHORE,
               "processobject": ResourceKind.PROCESS, "process": ResourceKind.PROCESS,
               "threadobject": ResourceKind.THREAD, "thread": ResourceKind.THREAD,
               "port": ResourceKind.ALPC_PORT, "alpc": ResourceKind.ALPC_PORT,
               "waitableport": ResourceKind.ALPC_PORT}


def kind_of_type(type_name: Optional[str]) -> ResourceKind:
    """Resource kind for an object type as kd / ``!handle`` spell it."""
    if not type_name:
        return ResourceKind.UNKNOWN
    lowered = type_name.lower()
    if lowered.endswith("event"):
        return ResourceKind.EVENT
    return _TYPE_KINDS.get(lowered, ResourceKind.UNKNOWN)


def build_from_text(text: str, source: str) -> WaitGraph:
    """The wait graph a transcript shows."""
    return _Resolver(parse_transcript(text, source)).run()


def build_from_file(path: str) -> WaitGraph:
    with open(path, "r", encoding="utf-8", errors="replace") as handle:
        return build_from_text(handle.read(), path)


class _Resolver:
    def __init__(self, transcript: Transcript) -> None:
        self.t = transcript
        self.b = GraphBuilder()
        self.b.sources.append(transcript.source)
        self.index_map: Dict[int, Tuple[int, int]] = {}
        self.tid_pids: Dict[int, Set[int]] = {}
        self.cs_pid: Dict[int, Optional[int]] = {}

    def problem(self, code: str, message: str) -> None:
        self.b.problems.append(Problem(code, message))

    def run(self) -> WaitGraph:
        t = self.t
        self.resolve_indices()
        for rec in t.processes:
            if rec.pid is not None:
                self.b.process(ProcessInfo(rec.pid, rec.name, rec.parent, rec.debug_port))
        self.add_critical_sections()
        self.add_handles()
        for obj in t.objects:
            self.b.add(ResourceNode(kind_of_type(obj.type_name), obj.name, None, obj.address,
                                    type_name=obj.type_name))
        self.add_resources()
        self.add_verifier()
        self.add_threads()
        self.b.skipped.extend(t.skipped)
        if not (t.threads or t.critical_sections or t.handles or t.resources or t.verifier):
            self.problem("no-debugger-output",
                         f"{t.source}: no thread, lock or handle output recognised")
        return self.b.build()

    # -- identities --------------------------------------------------------------------------
    def resolve_indices(self) -> None:
        for index, pid, tid, evidence in self.t.index_map:
            previous = self.index_map.get(index)
            if previous and previous[1] == tid and previous[0] != pid:
                self.problem("inconsistent-thread-id",
                             f"{evidence.where()}: thread {index} shown as {pid:x}.{tid:x}, "
                             f"earlier as {previous[0]:x}.{tid:x}; kept the earlier")
                continue
            self.index_map[index] = (pid, tid)
        for obs in self.t.threads:
            if obs.kind != "user" or obs.index is None:
                continue
            known = self.index_map.get(obs.index)
            if known and (obs.tid is None or obs.tid == known[1]):
                obs.pid, obs.tid = known
        for obs in self.t.threads:
            if obs.pid is not None and obs.tid is not None:
                self.tid_pids.setdefault(obs.tid, set()).add(obs.pid)

    def owner_by_tid(self, tid: int, pid: Optional[int]) -> ThreadNode:
        if pid is None and len(self.tid_pids.get(tid, ())) == 1:
            pid = next(iter(self.tid_pids[tid]))
        if pid is None:
            return ThreadNode(None, tid, label=f"thread {tid:x} (process unknown)")
        return ThreadNode(pid, tid)

    def only_user_pid(self) -> Optional[int]:
        pids = {o.pid for o in self.t.threads if o.kind == "user" and o.pid is not None}
        return next(iter(pids)) if len(pids) == 1 else None

    # -- listings ----------------------------------------------------------------------------
    def add_critical_sections(self) -> None:
        latest: Dict[Tuple[Optional[int], int], CSRecord] = {}
        for rec in self.t.critical_sections:
            pid = rec.pid_ctx
            if pid is None and rec.owner_tid and len(self.tid_pids.get(rec.owner_tid, ())) == 1:
                pid = next(iter(self.tid_pids[rec.owner_tid]))
            if pid is None:
                pid = self.only_user_pid()
            rec.pid_ctx = pid
            latest[(pid, rec.address)] = rec
        for (pid, address), rec in latest.items():
            self.cs_pid[address] = pid
            kind = ResourceKind.LOADER_LOCK if rec.name and "loaderlock" in rec.name.lower() \
                else ResourceKind.CRITICAL_SECTION
            free = rec.locked is False or rec.owner_tid == 0
            owned = not free and bool(rec.owner_tid)
            node = self.b.add(ResourceNode(kind, _cs_name(rec.name), None, address, pid,
                                           owner_known=free or owned))
            if owned:
                assert rec.owner_tid is not None
                owner = self.b.add(self.owner_by_tid(rec.owner_tid, pid))
                self.b.edge(node, owner, EdgeKind.OWNED_BY, rec.evidence)

    def add_handles(self) -> None:
        for rec in self.t.handles:
            pid = rec.pid_ctx if rec.pid_ctx is not None else \
                (rec.owner[0] if rec.owner else self.only_user_pid())
            rec.pid_ctx = pid
            node = self.b.add(ResourceNode(kind_of_type(rec.type_name), rec.name, rec.handle, None,
                                           pid, rec.type_name,
                                           owner_known=rec.owner is not None or rec.free))
            if rec.owner:
                owner = self.b.add(ThreadNode(rec.owner[0], rec.owner[1]))
                self.b.edge(node, owner, EdgeKind.OWNED_BY,
                            Evidence(rec.evidence.source, rec.evidence.line,
                                     rec.evidence.text, "handle"))

    def add_resources(self) -> None:
        for rec in self.t.resources:
            owners = rec.owners or (rec.entries[:1] if rec.exclusive else rec.entries)
            node = self.b.add(ResourceNode(ResourceKind.ERESOURCE, rec.name, None, rec.address,
                                           owner_known=True))
            for kthread in owners:
                owner = self.b.add(ThreadNode(None, None, kthread))
                self.b.edge(node, owner, EdgeKind.OWNED_BY, rec.evidence)
            for kthread in rec.waiters:
                waiter = self.b.add(ThreadNode(None, None, kthread, state=ThreadState.WAITING))
                self.b.edge(waiter, node, EdgeKind.WAITS_FOR, rec.evidence)

    def add_verifier(self) -> None:
        for n, rec in enumerate(self.t.verifier, 1):
            for label, order in rec.orders.items():
                address = rec.threads.get(label)
                thread = self.b.add(ThreadNode(None, None, address, state=ThreadState.WAITING,
                                               label=None if address else
                                               f"verifier report {n} thread {label}"))
                for position, lock_label in enumerate(order):
                    value, type_name = rec.locks.get(lock_label, (lock_label, "lock"))
                    lock = self.b.add(_verifier_lock(n, value, type_name))
                    ev = Evidence(rec.evidence.source, rec.evidence.line,
                                  f"Driver Verifier lock order: thread {label} took "
                                  f"{' '.join(order)}", "line")
                    if position + 1 < len(order):
                        self.b.edge(lock, thread, EdgeKind.OWNED_BY, ev)
                    else:
                        self.b.edge(thread, lock, EdgeKind.WAITS_FOR, ev)

    # -- threads -----------------------------------------------------------------------------
    def add_threads(self) -> None:
        known_cs: Dict[Optional[int], Set[int]] = {}
        for address, pid in self.cs_pid.items():
            known_cs.setdefault(pid, set()).add(address)
        known_handles: Dict[Optional[int], Set[int]] = {}
        for rec in self.t.handles:
            known_handles.setdefault(rec.pid_ctx, set()).add(rec.handle)
        known_resources = {rec.address for rec in self.t.resources}
        names = {p.pid: p.name for p in self.t.processes if p.pid is not None}
        for obs in self.t.threads:
            waits = recognise_waits(obs.frames, bool(obs.x86), known_cs.get(obs.pid, set()),
                                    known_handles.get(obs.pid, set()), known_resources) \
                if obs.frames else []
            if obs.wait_objects:   # kd listed the kernel objects: handle guesses add nothing
                waits = [w for w in waits if w.kind is not ResourceKind.UNKNOWN]
            node = self.b.add(self.thread_node(obs, names, bool(waits)))
            if obs.frames:
                self.b.set_stack(node, obs.frames)
            for address, type_name, owner, evidence in obs.wait_objects:
                self.add_wait_object(node, address, type_name, owner, evidence)
            for wait in waits:
                self.add_stack_wait(node, obs, wait)

    def thread_node(self, obs: ThreadObs, names: Dict[int, Optional[str]],
                    waiting: bool) -> ThreadNode:
        if obs.state == "waiting":
            state = ThreadState.WAITING
        elif obs.state == "running":
            state = ThreadState.RUNNING
        elif obs.state == "terminated":
            state = ThreadState.TERMINATED
        elif obs.frames:
            state = ThreadState.WAITING if waiting else ThreadState.RUNNING
        else:
            state = ThreadState.UNKNOWN
        label = None
        if obs.tid is None and obs.kthread is None:
            label = f"thread {obs.index}" if obs.index is not None else \
                f"stack at line {obs.evidence.line}"
        name = obs.process_name or (names.get(obs.pid) if obs.pid is not None else None)
        return ThreadNode(obs.pid, obs.tid, obs.kthread, name, state, label)

    def add_wait_object(self, thread: int, address: int, type_name: str, owner: Optional[int],
                        evidence: Evidence) -> None:
        kind = kind_of_type(type_name)
        node = self.b.add(ResourceNode(kind, None, None, address, type_name=type_name,
                                       owner_known=owner is not None))
        self.b.edge(thread, node, EdgeKind.WAITS_FOR, evidence)
        if owner:
            owner_node = self.b.add(ThreadNode(None, None, owner))
            self.b.edge(node, owner_node, EdgeKind.OWNED_BY, evidence)

    def add_stack_wait(self, thread: int, obs: ThreadObs, wait) -> None:
        frame_ev = wait.frame.evidence
        text = f"{frame_ev.text}  [{wait.note}]" if wait.note else frame_ev.text
        evidence = Evidence(frame_ev.source, frame_ev.line, text, "frame")
        if wait.kind is ResourceKind.CRITICAL_SECTION and wait.address is not None:
            pid = self.cs_pid.get(wait.address, obs.pid)
            node = self.b.add(ResourceNode(wait.kind, None, None, wait.address, pid))
        elif wait.kind is ResourceKind.ERESOURCE and wait.address is not None:
            node = self.b.add(ResourceNode(wait.kind, None, None, wait.address))
        elif wait.handle is not None and obs.pid is not None:
            node = self.b.add(ResourceNode(ResourceKind.UNKNOWN, None, wait.handle, None, obs.pid,
                                           label=f"handle {wait.handle:x}"))
        else:
            node = self.b.add(ResourceNode(wait.kind, None, wait.handle, None, obs.pid,
                                           label=f"unidentified, waited on at {frame_ev.where()}"))
        self.b.edge(thread, node, EdgeKind.WAITS_FOR, evidence)


def _cs_name(name: Optional[str]) -> Optional[str]:
    if not name or name.startswith("+"):      # "+24e750": no symbol, only the address again
        return None
    return re.sub(r"\+0x0$|\+0$", "", name.strip())


def _verifier_lock(report: int, value: str, type_name: str) -> ResourceNode:
    lowered = type_name.lower()
    kind = ResourceKind.SPINLOCK if "spin" in lowered else ResourceKind.ERESOURCE \
        if "resource" in lowered else ResourceKind.MUTANT if "mutex" in lowered \
        else ResourceKind.UNKNOWN
    if re.fullmatch(r"[0-9a-fA-F]{8,16}", value):
        return ResourceNode(kind, None, None, int(value, 16), type_name=type_name,
                            owner_known=True)
    return ResourceNode(kind, None, None, None, type_name=type_name, owner_known=True,
                        label=value if report == 1 else f"{value} (report {report})")


__all__ = ["build_from_text", "build_from_file", "kind_of_type"]
