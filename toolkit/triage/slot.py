"""A worker process and the one dump it is working on, with a deadline.

A ``Slot`` owns a ``python -m toolkit.triage.worker`` child (a plain subprocess, not
multiprocessing, so that it can also be started from inside a daemonic Dask worker). A reader
thread turns each line the child prints into a ``(slot, outcome)`` on a shared queue, which lets
one coordinator wait on many slots at once, portably. When a dump overruns its deadline, or the
child dies on it, the child is killed and restarted and the dump is recorded as refused.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

from toolkit.triage.worker import Outcome, refused

Event = Tuple["Slot", Any, Optional[Outcome]]


class Slot:
    def __init__(self, events: "queue.Queue[Event]", symbol_path: Optional[str] = None) -> None:
        self.events = events
        self.symbol_path = symbol_path
        self.request: Optional[Dict[str, Any]] = None
        self.deadline = 0.0
        self.started = 0.0
        self.proc: Optional[subprocess.Popen] = None
        self._start()

    def _start(self) -> None:
        cmd = [sys.executable, "-m", "toolkit.triage.worker"]
        if self.symbol_path:
            cmd += ["--symbol-path", self.symbol_path]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, encoding="utf-8",
                                     bufsize=1)
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()

    def _read(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                self.events.put((self, proc, Outcome.from_json(json.loads(line))))
            except (ValueError, TypeError):
                continue
        proc.wait()
        self.events.put((self, proc, None))     # the child is gone: it died on what it had

    def submit(self, request: Dict[str, Any], timeout: float) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.request = request
        self.started = time.monotonic()
        self.deadline = self.started + timeout
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
        except OSError:
            self.events.put((self, self.proc, None))

    def finish(self, outcome: Optional[Outcome]) -> Outcome:
        """The outcome of the current request; ``None`` means the child died on it."""
        request, self.request = self.request, None
        assert request is not None
        if outcome is not None:
            return outcome
        code = self.proc.returncode if self.proc is not None else None
        self._restart()
        return refused(request, f"the worker process died on this dump (exit status {code})",
                       time.monotonic() - self.started)

    def expire(self, timeout: float) -> Outcome:
        request, self.request = self.request, None
        assert request is not None
        self._restart()
        return refused(request, f"timed out after {timeout:g} s", time.monotonic() - self.started)

    def _restart(self) -> None:
        old, self.proc = self.proc, None
        if old is not None:
            _kill(old)
        self._start()

    def close(self) -> None:
        old, self.proc = self.proc, None
        if old is not None:
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
    """``jobs`` slots fed from a list of requests; ``run`` yields outcomes as they finish."""

    def __init__(self, jobs: int, symbol_path: Optional[str], timeout: float) -> None:
        self.events: "queue.Queue[Event]" = queue.Queue()
        self.timeout = timeout
        self.slots: List[Slot] = [Slot(self.events, symbol_path) for _ in range(max(1, jobs))]

    def run(self, requests: List[Dict[str, Any]]):
        pending = list(reversed(requests))
        busy = 0
        for slot in self.slots:
            if pending:
                slot.submit(pending.pop(), self.timeout)
                busy += 1
        while busy:
            now = time.monotonic()
            deadline = min(s.deadline for s in self.slots if s.request is not None)
            try:
                slot, proc, outcome = self.events.get(timeout=max(0.0, deadline - now))
            except queue.Empty:
                for slot in self.slots:
                    if slot.request is not None and slot.deadline <= time.monotonic():
                        yield slot.expire(self.timeout)
                        busy -= 1
                        if pending:
                            slot.submit(pending.pop(), self.timeout)
                            busy += 1
                continue
            if proc is not slot.proc or slot.request is None or (
                    outcome is not None and outcome.sha256 != slot.request["sha256"]):
                continue                    # a late line from a child already replaced
            yield slot.finish(outcome)
            busy -= 1
            if pending:
                slot.submit(pending.pop(), self.timeout)
                busy += 1

    def close(self) -> None:
        for slot in self.slots:
            slot.close()
