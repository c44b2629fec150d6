"""Minidump -> wait graph, for the parts that need no stack walker.

What a dump tells without unwinding stacks:

* every thread (pid.tid);
* mutant owners and names from the handle data stream: a ``MiniMutantInformation2`` record
  carries ``OwnerProcessId`` / ``OwnerThreadId``;
* the loader lock (``PEB.LoaderLock``) and its owner, read from memory as an
  ``RTL_CRITICAL_SECTION`` (both ``LockCount`` encodings, see ``decode_lock_count``).

Which lock each thread *waits* on needs its symbolized stack (``stack_waits`` applies once the
stack walker exists); until then the dump contributes ownership, which joins with transcripts
(and later stacks) by pid.tid and object name. The limits are stated as problems.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Optional, Tuple

from toolkit.errors import UnreadableMemory
from toolkit.target import Problem, Target
from toolkit.waitgraph.builders.transcript import kind_of_type
from toolkit.waitgraph.model import (
    EdgeKind, Evidence, GraphBuilder, ResourceKind, ResourceNode, ThreadNode, WaitGraph)

# TEB.ProcessEnvironmentBlock and PEB.LoaderLock offsets (winternl / public PDB layouts)
_PEB_IN_TEB = {4: 0x30, 8: 0x60}
_LOADER_LOCK_IN_PEB = {4: 0xA0, 8: 0x110}


@dataclass(frozen=True)
class CriticalSectionState:
    """RTL_CRITICAL_SECTION as read from memory."""

    address: int
    lock_count: int
    recursion_count: int
    owning_thread: int
    locked: bool
    waiters: int


def decode_lock_count(lock_count: int, new_encoding: bool) -> Tuple[bool, int]:
    """(locked, waiters) from LockCount.

    Before Windows Server 2003 SP1: -1 = free, otherwise locked with LockCount other entries.
    Since: bit 0 clear = locked, bit 1 clear = a waiter was woken, the remaining bits are the
    ones' complement of the number of waiters (``((-1) - LockCount) >> 2``).
    """
    if not new_encoding:
        return lock_count != -1, max(lock_count, 0)
    locked = (lock_count & 1) == 0
    return locked, ((-1) - lock_count) >> 2


def uses_new_lock_count(os_major: Optional[int], os_minor: Optional[int],
                        csd_version: Optional[str]) -> bool:
    if os_major is None:
        return True
    if (os_major, os_minor or 0) >= (6, 0):
        return True
    if (os_major, os_minor or 0) == (5, 2):
        return bool(csd_version and "Service Pack" in csd_version)
    return False


def read_critical_section(target: Target, address: int) -> CriticalSectionState:
    """RTL_CRITICAL_SECTION at ``address`` (DebugInfo, LockCount, RecursionCount, OwningThread)."""
    ps = target.pointer_size
    raw = target.read(address, ps + 8 + ps)
    lock_count, recursion = struct.unpack_from("<ii", raw, ps)
    owner = int.from_bytes(raw[ps + 8:ps + 8 + ps], "little")
    info = target.system_info()
    locked, waiters = decode_lock_count(
        lock_count, uses_new_lock_count(info.os_major, info.os_minor, info.csd_version))
    return CriticalSectionState(address, lock_count, recursion, owner, locked and owner != 0,
                                waiters)


def build_from_target(target: Target, source: str) -> WaitGraph:
    b = GraphBuilder()
    b.sources.append(source)
    b.problems.extend(target.problems)
    pid = target.process_id
    threads = target.threads()
    for thread in threads:
        b.add(ThreadNode(pid, thread.tid))
    _add_mutants(b, target, pid, source)
    _add_loader_lock(b, target, pid, threads, source)
    b.problems.append(Problem("no-stack-waits",
                              f"{source}: waits are not read from dump stacks yet (needs the stack "
                              "walker); the dump adds threads and lock owners only"))
    return b.build()


def _add_mutants(b: GraphBuilder, target: Target, pid: Optional[int], source: str) -> None:
    handles = target.handles()
    if handles is None:
        b.problems.append(Problem("no-handle-data",
                                  f"{source}: no handle data stream: mutant owners unknown"))
        return
    for h in handles:
        if (h.type_name or "").lower() != "mutant":
            continue
        info = h.info("MiniMutantInformation2")
        owner = None
        if info is not None:
            owner = (info.fields.get("OwnerProcessId", 0), info.fields.get("OwnerThreadId", 0))
        node = b.add(ResourceNode(kind_of_type(h.type_name), h.object_name, h.handle, None, pid,
                                  h.type_name, owner_known=info is not None))
        if owner and owner[1]:
            ev = Evidence(source, None, f"handle {h.handle:#x} Mutant {h.object_name or ''} "
                          f"owner {owner[0]:x}.{owner[1]:x} (MiniMutantInformation2)", "handle")
            b.edge(node, b.add(ThreadNode(owner[0], owner[1])), EdgeKind.OWNED_BY, ev)


def _add_loader_lock(b: GraphBuilder, target: Target, pid: Optional[int], threads,
                     source: str) -> None:
    ps = target.pointer_size
    teb = next((t.teb for t in threads if t.teb), None)
    if teb is None:
        return
    try:
        peb = target.read_pointer(teb + _PEB_IN_TEB[ps])
        address = target.read_pointer(peb + _LOADER_LOCK_IN_PEB[ps])
        state = read_critical_section(target, address)
    except (UnreadableMemory, KeyError):
        b.problems.append(Problem("no-loader-lock",
                                  f"{source}: TEB/PEB/loader lock memory not in the dump"))
        return
    node = b.add(ResourceNode(ResourceKind.LOADER_LOCK, "ntdll!LdrpLoaderLock", None, address,
                              pid, owner_known=True))
    if state.locked:
        ev = Evidence(source, None, f"PEB.LoaderLock {address:#x}: OwningThread "
                      f"{state.owning_thread:#x} LockCount {state.lock_count} "
                      f"({state.waiters} waiting)", "memory")
        b.edge(node, b.add(ThreadNode(pid, state.owning_thread)), EdgeKind.OWNED_BY, ev)


__all__ = ["build_from_target", "read_critical_section", "decode_lock_count",
           "uses_new_lock_count", "CriticalSectionState"]
