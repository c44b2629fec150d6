"""Runs a triage: skips the dumps the store knows, analyses the rest on local worker processes
(``jobs``) or on a Dask cluster (``scheduler``), and records each outcome as it arrives.

The coordinator (this process) alone writes the database; workers get a path and return an
``Outcome``. Every worker process keeps its own resolver, so symbols load once per worker, and
every dump has a deadline (``timeout``): an overrun or a crash is that dump's refusal.
A caller can ``start_workers`` before it collects and hashes the inputs, so the workers'
imports overlap that work; ``run`` then uses them (and stops any it does not need).
On a cluster, paths are made absolute: the workers must see the same files (shared storage).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from toolkit.model.errors import InputError
from toolkit.triage.inputs import Inputs, Item
from toolkit.triage.slot import SlotPool
from toolkit.triage.store import Store
from toolkit.triage.worker import Outcome

DEFAULT_TIMEOUT = 120.0
Progress = Callable[[int, int], None]


@dataclass
class RunSummary:
    """One run: its inputs, what it analysed now, and how many were known from before."""

    inputs: Inputs
    processed: List[Outcome] = field(default_factory=list)
    known: int = 0

    @property
    def hashes(self) -> List[str]:
        return [item.sha256 for item in self.inputs.items]


def default_jobs() -> int:
    return os.cpu_count() or 1


def start_workers(jobs: Optional[int] = None, symbol_path: Optional[str] = None,
                  timeout: float = DEFAULT_TIMEOUT) -> SlotPool:
    """The local worker processes, started now; pass them to ``run`` (which closes them)."""
    return SlotPool(jobs or default_jobs(), symbol_path, timeout)


def run(inputs: Inputs, store: Store, *, jobs: Optional[int] = None,
        timeout: float = DEFAULT_TIMEOUT, symbol_path: Optional[str] = None,
        force: bool = False, scheduler: Optional[str] = None,
        progress: Optional[Progress] = None, workers: Optional[SlotPool] = None) -> RunSummary:
    """``workers`` (from ``start_workers``, with the same ``symbol_path`` and ``timeout``)
    replaces starting them here; they are closed when the run ends."""
    try:
        return _run(inputs, store, jobs, timeout, symbol_path, force, scheduler, progress,
                    workers)
    finally:
        if workers is not None:
            workers.close()


def _run(inputs: Inputs, store: Store, jobs: Optional[int], timeout: float,
         symbol_path: Optional[str], force: bool, scheduler: Optional[str],
         progress: Optional[Progress], workers: Optional[SlotPool]) -> RunSummary:
    summary = RunSummary(inputs)
    known = set() if force else store.known(summary.hashes)
    todo = [item for item in inputs.items if item.sha256 not in known]
    summary.known = len(inputs.items) - len(todo)
    if progress is not None:
        progress(0, len(todo))
    if not todo:
        return summary
    if scheduler:
        outcomes = _on_cluster(todo, scheduler, symbol_path, timeout)
    else:
        if workers is None:
            workers = SlotPool(min(jobs or default_jobs(), len(todo)), symbol_path, timeout)
        workers.shrink(len(todo))
        outcomes = _locally(todo, workers)
    try:
        for outcome in outcomes:
            store.put(outcome)
            summary.processed.append(outcome)
            if progress is not None:
                progress(len(summary.processed), len(todo))
    finally:
        store.flush()
    return summary


def _request(item: Item, absolute: bool = False) -> Dict[str, Any]:
    return {"path": os.path.abspath(item.path) if absolute else item.path, "name": item.name,
            "size": item.size, "sha256": item.sha256}


def _locally(todo: List[Item], pool: SlotPool) -> Iterator[Outcome]:
    try:
        yield from pool.run([_request(item) for item in todo])
    finally:
        pool.close()


# ---- Dask ----------------------------------------------------------------------------------

_THREAD_POOLS: Dict[Tuple[int, Optional[str], float], SlotPool] = {}
_POOLS_LOCK = threading.Lock()


def dask_task(request: Dict[str, Any], symbol_path: Optional[str], timeout: float) -> Outcome:
    """The unit of work on a Dask worker: the same deadline-guarded child process as a local
    run, one per worker thread and kept between tasks (its symbols stay loaded)."""
    key = (threading.get_ident(), symbol_path, timeout)
    with _POOLS_LOCK:
        pool = _THREAD_POOLS.get(key)
        if pool is None:
            pool = _THREAD_POOLS[key] = SlotPool(1, symbol_path, timeout)
    return next(iter(pool.run([request])))


def _on_cluster(todo: List[Item], scheduler: str, symbol_path: Optional[str],
                timeout: float) -> Iterator[Outcome]:
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise InputError("--scheduler needs Dask's `distributed` package: "
                         "pip install 'dumpkit[cluster]'") from None
    try:
        client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise InputError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    with client:
        requests = [_request(item, absolute=True) for item in todo]
        futures = client.map(dask_task, requests, symbol_path=symbol_path, timeout=timeout,
                             pure=False)
        by_key = {f.key: r for f, r in zip(futures, requests)}
        for future in as_completed(futures):
            try:
                yield future.result()
            except Exception as exc:     # noqa: BLE001 - a lost worker costs one dump
                from toolkit.triage.worker import refused
                yield refused(by_key[future.key], f"cluster task failed: {type(exc).__name__}: "
                                                  f"{exc}")


__all__ = ["run", "start_workers", "RunSummary", "dask_task", "default_jobs", "DEFAULT_TIMEOUT"]
