"""Minidump -> wait graph: waits from walked stacks, owners from memory and the handle data.

Per thread the stack is walked (toolkit.stackwalk) and the innermost wait API with its argument
is found (``dump_waits``: by symbol, or by the call target through the exe's import thunks when
the system DLLs have no symbols). Owners come from what the dump holds:

* critical sections (and the loader lock, ``PEB.LoaderLock``): ``RTL_CRITICAL_SECTION`` read from
  memory (parsers.nt_tib), ``OwningThread`` when ``LockCount`` says locked - in either encoding;
* mutants: the handle data stream, ``MiniMutantInformation2`` (OwnerProcessId, OwnerThreadId),
  joined to the waits by handle value (the graph keys handles by pid and value).

Every rule that lacks its input says so as a problem: no thread context, no handle data, a lock's
memory not in the dump, an argument that could not be recovered (with the reason).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from parsers.nt_tib import TEB32_HEAD, TEB64_HEAD, critical_section_layout, peb_layout
from toolkit.model.errors import UnreadableMemory
from toolkit.model.target import Problem, Target
from toolkit.waitgraph.builders.transcript import kind_of_type
from toolkit.waitgraph.model import (
    EdgeKind, Evidence, Frame, GraphBuilder, ProcessInfo, ResourceKind, ResourceNode, ThreadNode,
    ThreadState, WaitGraph)


@dataclass(frozen=True)
class CriticalSectionState:
    """RTL_CRITICAL_SECTION as read from memory, with LockCount decoded."""

    address: int
    lock_count: int
    recursion_count: int
    owning_thread: int
    locked: bool
    waiters: int
    encoding: str                  # "nt5" (-1 free, n >= 0 owned) | "vista" (bit 0 clear = locked)

    def describe(self) -> str:
        return (f"RTL_CRITICAL_SECTION {self.address:#x}: OwningThread {self.owning_thread:#x} "
                f"LockCount {self.lock_count} RecursionCount {self.recursion_count} "
                f"({self.encoding} encoding: {'locked' if self.locked else 'free'}, "
                f"{self.waiters} waiting)")


def decode_lock_count(lock_count: int, new_encoding: Optional[bool] = None) -> Tuple[bool, int]:
    """(locked, waiters) from LockCount.

    NT5 (before Server 2003 SP1, and Wine): -1 = free, otherwise locked with LockCount waiters.
    Vista+: bit 0 clear = locked, bit 1 clear = a waiter was woken, the remaining bits are the
    ones' complement of the number of waiters (``((-1) - LockCount) >> 2``).
    ``new_encoding=None`` decides from the value: NT5 values never go below -1 and Vista+ values
    are never above it, so only -1 (free in both) is ambiguous.
    """
    if new_encoding is None:
        new_encoding = lock_count < -1
    if not new_encoding:
        return lock_count != -1, max(lock_count, 0)
    locked = (lock_count & 1) == 0
    return locked, ((-1) - lock_count) >> 2


def read_critical_section(target: Target, address: int) -> CriticalSectionState:
    """RTL_CRITICAL_SECTION at ``address``; raises UnreadableMemory when it is not in the dump."""
    layout = critical_section_layout(target.pointer_size)
    cs = layout.parse(target.read(address, layout.sizeof()))
    new = cs.LockCount < -1
    locked, waiters = decode_lock_count(cs.LockCount, new)
    return CriticalSectionState(address, cs.LockCount, cs.RecursionCount, cs.OwningThread,
                                locked and cs.OwningThread != 0, waiters,
                                "vista" if new else "nt5")


def build_from_target(target: Target, source: str, resolver: Any = None, *, ctx: Any = None,
                      stacks: Optional[Dict[int, Any]] = None) -> WaitGraph:
    """The wait graph of one dump (one process). A caller that already walked the threads
    (``analyze``) passes its WalkContext and ``stacks`` (tid -> ThreadStack) so they are not
    walked twice."""
    from toolkit.stackwalk.context import WalkContext

    b = GraphBuilder()
    b.sources.append(source)
    b.problems.extend(target.problems)
    pid = target.process_id
    threads = target.threads()
    modules = target.modules()
    b.process(ProcessInfo(pid, modules[0].name if modules else None) if pid is not None
              else ProcessInfo(0))
    handles = _add_mutants(b, target, pid, source)
    loader_lock = _add_loader_lock(b, target, pid, threads, source)
    ctx = ctx if ctx is not None else WalkContext(target, resolver)
    builder = _Waits(b, target, ctx, pid, source, handles, loader_lock)
    for thread in threads:
        builder.thread(thread, (stacks or {}).get(thread.tid))
    builder.finish()
    return b.build()


class _Waits:
    def __init__(self, b: GraphBuilder, target: Target, ctx, pid: Optional[int], source: str,
                 handles: Optional[Dict[int, Any]], loader_lock: Optional[int]) -> None:
        self.b, self.target, self.ctx, self.pid, self.source = b, target, ctx, pid, source
        self.handles, self.loader_lock = handles, loader_lock
        self.no_context: List[int] = []
        self.read_cs: Dict[int, Optional[CriticalSectionState]] = {}

    def thread(self, thread, stack: Any = None) -> None:
        from toolkit.stackwalk.walker import walk_thread
        from toolkit.waitgraph.dump_waits import thread_wait, wait_calls

        if stack is None:
            stack = walk_thread(self.ctx, thread)
        if not stack.frames:
            self.no_context.append(thread.tid)
            self.b.add(ThreadNode(self.pid, thread.tid))
            return
        calls = wait_calls(self.ctx, stack.frames)
        wait = thread_wait(self.ctx, stack.frames, calls)
        state = ThreadState.WAITING if wait is not None and wait.category != "debug_event" \
            else ThreadState.RUNNING
        node = self.b.add(ThreadNode(self.pid, thread.tid, state=state))
        frames = self._model_frames(thread.tid, stack, calls)
        if wait is not None:
            self._wait_edges(node, thread.tid, stack, wait, frames)
        self.b.set_stack(node, frames)

    def _model_frames(self, tid: int, stack, calls) -> List[Frame]:
        """Frames as the graph keeps them, plus the wait API a thunk call leads to (for rules
        that read names, such as the debugger rule's WaitForDebugEvent)."""
        ps = self.target.pointer_size
        out: List[Frame] = []
        thunks = {c.caller: c for c in calls if c.via != "symbol"}
        for frame, loc in zip(stack.frames, stack.locations):
            call = thunks.get(frame.index)
            if call is not None:
                out.append(Frame(call.api, (), Evidence(
                    self.source, None, f"thread {tid:x}: {call.api} reached by `{call.call_text}`"
                    f" (import thunk) from frame {frame.index:02x}", "frame")))
            text = loc.format(ps) if loc is not None else f"{frame.ip:#x}"
            function = text.split("+", 1)[0].split(" [", 1)[0]
            out.append(Frame(function, (), Evidence(
                self.source, None, f"thread {tid:x} frame {frame.index:02x} {text}", "frame")))
        return out

    def _wait_edges(self, node: int, tid: int, stack, wait, frames: List[Frame]) -> None:
        caller = stack.frames[wait.caller]
        loc = stack.locations[wait.caller]
        where = loc.format(self.target.pointer_size) if loc is not None else f"{caller.ip:#x}"
        if wait.category == "debug_event":
            return
        if wait.category == "loader_lock":
            self._cs_wait(node, tid, self.loader_lock, wait, where, loader=True)
            return
        if wait.category == "critical_section":
            address = wait.values[0] if wait.values else None
            self._cs_wait(node, tid, address, wait, where,
                          loader=address is not None and address == self.loader_lock)
            return
        if not wait.values:
            self._unknown(node, tid, ResourceKind.UNKNOWN, wait, where)
            return
        mode = "" if wait.wait_all is None else (" (wait all)" if wait.wait_all else " (wait any)")
        for handle in wait.values:
            known = self.handles.get(handle) if self.handles is not None else None
            kind = kind_of_type(known.type_name) if known is not None else ResourceKind.UNKNOWN
            res = self.b.add(ResourceNode(kind, known.object_name if known else None, handle,
                                          None, self.pid, known.type_name if known else None))
            self.b.edge(node, res, EdgeKind.WAITS_FOR, Evidence(
                self.source, None, f"thread {tid:x}: {where} calls {wait.api}(handle {handle:#x})"
                f"{mode}; {wait.how}", "frame"))

    def _cs_wait(self, node: int, tid: int, address: Optional[int], wait, where: str,
                 loader: bool) -> None:
        if address is None:
            self._unknown(node, tid, ResourceKind.LOADER_LOCK if loader
                          else ResourceKind.CRITICAL_SECTION, wait, where)
            return
        kind = ResourceKind.LOADER_LOCK if loader else ResourceKind.CRITICAL_SECTION
        label = self._data_name(address)
        res = self.b.add(ResourceNode(kind, None, None, address, self.pid, owner_known=False,
                                      label=label or ("ntdll!LdrpLoaderLock" if loader else None)))
        arg = f"({address:#x}{' ' + label if label else ''})"
        self.b.edge(node, res, EdgeKind.WAITS_FOR, Evidence(
            self.source, None, f"thread {tid:x}: {where} calls {wait.api}{arg}; {wait.how}",
            "frame"))
        self._cs_owner(res, address)

    def _cs_owner(self, res: int, address: int) -> None:
        if address in self.read_cs:
            return
        try:
            state: Optional[CriticalSectionState] = read_critical_section(self.target, address)
        except UnreadableMemory:
            state = None
            self.b.problems.append(Problem(
                "no-cs-memory", f"{self.source}: critical section {address:#x} is not in the "
                "dump's memory: its owner is unknown"))
        self.read_cs[address] = state
        if state is None:
            return
        self.b.update(res, owner_known=True)
        if state.locked:
            self.b.edge(res, self.b.add(ThreadNode(self.pid, state.owning_thread)),
                        EdgeKind.OWNED_BY, Evidence(self.source, None, state.describe(), "memory"))

    def _unknown(self, node: int, tid: int, kind: ResourceKind, wait, where: str) -> None:
        res = self.b.add(ResourceNode(kind, None, None, None, self.pid,
                                      label=f"(argument of {wait.api} in thread {tid:x} unknown)"))
        self.b.edge(node, res, EdgeKind.WAITS_FOR, Evidence(
            self.source, None, f"thread {tid:x}: {where} calls {wait.api}; argument unknown: "
            f"{wait.how}", "frame"))
        self.b.problems.append(Problem(
            "wait-argument-unknown", f"{self.source}: thread {tid:x} waits in {wait.api}, but "
            f"its argument is unknown: {wait.how}"))

    def _data_name(self, address: int) -> Optional[str]:
        loc = self.ctx.location(address)
        if loc is None or loc.symbol is None or loc.displacement != 0:
            return None
        return f"{loc.module_label}!{loc.symbol}"

    def finish(self) -> None:
        if self.no_context:
            self.b.problems.append(Problem(
                "no-thread-context", f"{self.source}: no register context for thread(s) "
                + ", ".join(f"{t:x}" for t in self.no_context) + ": their waits are unknown"))


def _add_mutants(b: GraphBuilder, target: Target, pid: Optional[int],
                 source: str) -> Optional[Dict[int, Any]]:
    """Handle records by value (None without a handle data stream); mutant owners as edges."""
    handles = target.handles()
    if handles is None:
        b.problems.append(Problem("no-handle-data",
                                  f"{source}: no handle data stream: what a handle wait waits on "
                                  "and mutant owners are unknown"))
        return None
    by_value = {h.handle: h for h in handles}
    for h in handles:
        if (h.type_name or "").lower() != "mutant":
            continue
        info = h.info("MiniMutantInformation2")
        node = b.add(ResourceNode(kind_of_type(h.type_name), h.object_name, h.handle, None, pid,
                                  h.type_name, owner_known=info is not None))
        if info is None:
            continue
        owner = (info.fields.get("OwnerProcessId", 0), info.fields.get("OwnerThreadId", 0))
        if owner[1]:
            ev = Evidence(source, None, f"handle {h.handle:#x} Mutant {h.object_name or ''} "
                          f"owner {owner[0]:x}.{owner[1]:x} (MiniMutantInformation2)", "handle")
            b.edge(node, b.add(ThreadNode(owner[0], owner[1])), EdgeKind.OWNED_BY, ev)
    return by_value


def _add_loader_lock(b: GraphBuilder, target: Target, pid: Optional[int], threads,
                     source: str) -> Optional[int]:
    """PEB.LoaderLock's address; its owner as an edge when it is held."""
    ps = target.pointer_size
    teb = next((t.teb for t in threads if t.teb), None)
    if teb is None:
        return None
    teb_head = TEB64_HEAD if ps == 8 else TEB32_HEAD
    layout = peb_layout(ps)
    step = "TEB"
    try:
        peb = teb_head.parse(target.read(teb, teb_head.sizeof())).ProcessEnvironmentBlock
        step = "PEB"
        address = layout.parse(target.read(peb, layout.sizeof())).LoaderLock
        step = f"loader lock at {address:#x}"
        state = read_critical_section(target, address)
    except UnreadableMemory:
        b.problems.append(Problem("no-loader-lock",
                                  f"{source}: no memory for the {step} in the dump, so the "
                                  "loader lock's owner is unknown"))
        return None
    if not state.locked:
        return address
    node = b.add(ResourceNode(ResourceKind.LOADER_LOCK, None, None, address, pid,
                              owner_known=True, label="ntdll!LdrpLoaderLock"))
    ev = Evidence(source, None, f"PEB.LoaderLock: {state.describe()}", "memory")
    b.edge(node, b.add(ThreadNode(pid, state.owning_thread)), EdgeKind.OWNED_BY, ev)
    return address


__all__ = ["build_from_target", "read_critical_section", "decode_lock_count",
           "CriticalSectionState"]
