"""A worker process, the few dumps queued on it, and the deadline of the one it is working on.

A ``Slot`` owns a ``python -m toolkit.triage.worker`` child (a plain subprocess, not
multiprocessing, so that it can also be started from inside a daemonic Dask worker). A reader
thread turns each line the child prints into an event on a shared queue, which lets one
coordinator wait on many slots at once, portably.

Each slot keeps up to ``depth`` requests written to its child (``PREFETCH``): the child reads the
next one the moment it answers the last, so it never waits on the coordinator (which may be
busy committing a batch or drawing progress). The child works through them in order, so the
oldest one is the dump in progress: its clock starts when the child says it is ready (its
imports done) or when the previous dump's answer arrives. When that dump overruns its deadline,
or the child dies on it, the child is killed and restarted, that dump alone is recorded as
refused and the dumps queued behind it are handed to the new child.
"""

from __future__ import annotations

import json
import math
import queue
import subprocess
import sys
import threading
import time
from collections import deque
from typing import Any, Deque, Dict, Iterator, List, Optional, Tuple

from toolkit.triage.worker import READY, Outcome, refused

PREFETCH = 3            # requests queued on each child: one in progress, the rest waiting
STARTUP_GRACE = 120.0   # seconds a child may take to import before its first dump's clock runs

# (slot, the child it came from, READY | an Outcome | None: the child is gone)
Event = Tuple["Slot", Any, Any]


class Slot:
    def __init__(self, events: "queue.Queue[Event]", symbol_path: Optional[str] = None,
                 timeout: float = 120.0) -> None:
        self.events = events
        self.symbol_path = symbol_path
        self.timeout = timeout
        self.queued: Deque[Dict[str, Any]] = deque()
        self.ready = False
        self.started = 0.0          # when the child started, then when the oldest dump did
        self.proc: Optional[subprocess.Popen] = None
        self._start()

    @property
    def deadline(self) -> float:
        if not self.queued:
            return math.inf
        if not self.ready:
            return self.started + STARTUP_GRACE + self.timeout
        return self.started + self.timeout

    def _start(self) -> None:
        cmd = [sys.executable, "-m", "toolkit.triage.worker"]
        if self.symbol_path:
            cmd += ["--symbol-path", self.symbol_path]
        self.ready = False
        self.started = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, encoding="utf-8",
                                     bufsize=1)
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()

    def _read(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                doc = json.loads(line)
                self.events.put((self, proc, READY if doc == READY else Outcome.from_json(doc)))
            except (ValueError, TypeError):
                continue
        proc.wait()
        self.events.put((self, proc, None))     # the child is gone: it died on what it had

    def submit(self, request: Dict[str, Any]) -> None:
        self.queued.append(request)
        self._write(request)

    def _write(self, request: Dict[str, Any]) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
        except OSError:
            pass                    # the reader thread reports the child's death

    def handle(self, proc: Any, what: Any) -> Optional[Outcome]:
        """The outcome an event settles, if any (late events from a replaced child do not)."""
        if proc is not self.proc:
            return None
        if what is READY:
            self.ready, self.started = True, time.monotonic()
            return None
        if what is None:
            return self._died()
        if not self.queued or what.sha256 != self.queued[0]["sha256"]:
            return None
        self.queued.popleft()
        self.started = time.monotonic()
        return what

    def _died(self) -> Optional[Outcome]:
        code = self.proc.returncode if self.proc is not None else None
        if not self.queued:
            self._restart()
            return None
        return self._refuse_current(f"the worker process died on this dump (exit status {code})")

    def expire(self) -> Outcome:
        return self._refuse_current(f"timed out after {self.timeout:g} s")

    def _refuse_current(self, reason: str) -> Outcome:
        request = self.queued.popleft()
        outcome = refused(request, reason, time.monotonic() - self.started)
        self._restart()
        for waiting in self.queued:
            self._write(waiting)
        return outcome

    def _restart(self) -> None:
        old, self.proc = self.proc, None
        if old is not None:
            _kill(old)
        self._start()

    def close(self) -> None:
        old, self.proc = self.proc, None
        if old is None:
            return
        if self.queued or not self.ready:
            _kill(old)              # nothing it still does is wanted
            return
        try:
            assert old.stdin is not None
            old.stdin.close()
            old.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            _kill(old)


def _kill(proc: subprocess.Popen) -> None:
    try:
        proc.kill()
        proc.wait(timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        pass


class SlotPool:
    """``jobs`` slots fed from a list of requests; ``run`` yields outcomes as they finish.

    The children start when the pool is made, so a caller can make it first and hash inputs
    and open its database while they import."""

    def __init__(self, jobs: int, symbol_path: Optional[str], timeout: float,
                 depth: int = PREFETCH) -> None:
        self.events: "queue.Queue[Event]" = queue.Queue()
        self.timeout = timeout
        self.depth = max(1, depth)
        self.slots: List[Slot] = [Slot(self.events, symbol_path, timeout)
                                  for _ in range(max(1, jobs))]

    def shrink(self, jobs: int) -> None:
        """Stop the slots past the first ``jobs`` (fewer dumps to do than workers started)."""
        for slot in self.slots[max(1, jobs):]:
            slot.close()
        del self.slots[max(1, jobs):]

    def run(self, requests: List[Dict[str, Any]]) -> Iterator[Outcome]:
        pending = deque(requests)
        for _ in range(self.depth):             # round robin: every slot gets work first
            for slot in self.slots:
                if pending:
                    slot.submit(pending.popleft())
        while any(slot.queued for slot in self.slots):
            deadline = min(slot.deadline for slot in self.slots)
            try:
                slot, proc, what = self.events.get(
                    timeout=min(max(0.0, deadline - time.monotonic()), 3600.0))
            except queue.Empty:
                for slot in self.slots:
                    if slot.queued and slot.deadline <= time.monotonic():
                        overrun = slot.expire()
                        if pending:
                            slot.submit(pending.popleft())
                        yield overrun
                continue
            outcome = slot.handle(proc, what)
            if outcome is not None:
                if pending:                     # top up before the caller gets to run
                    slot.submit(pending.popleft())
                yield outcome

    def close(self) -> None:
        for slot in self.slots:
            slot.close()
