"""``SlotPool``: real worker processes, each with several dumps queued on it (prefetch)."""

from __future__ import annotations

import hashlib

from tests.conftest import SAMPLES
from toolkit.triage.slot import SlotPool

DUMPS = SAMPLES / "dumps"


def _requests(names):
    out = []
    for name in names:
        path = DUMPS / name
        data = path.read_bytes()
        out.append({"path": str(path), "name": str(path), "size": len(data),
                    "sha256": hashlib.sha256(data).hexdigest()})
    return out


def test_a_worker_that_dies_costs_only_its_current_dump_not_those_queued_behind_it():
    requests = _requests(["crash_x64-normal.dmp", "seh_x86-normal.dmp", "crash_x64-normal.dmp"])
    requests[2] = dict(requests[2], sha256="0" * 64)    # a third, distinct request
    pool = SlotPool(1, None, 120.0, depth=3)
    try:
        pool.slots[0].proc.kill()                   # dies before it answers anything
        outcomes = list(pool.run(requests))
    finally:
        pool.close()
    assert [o.sha256 for o in outcomes] == [r["sha256"] for r in requests]
    assert outcomes[0].status == "refused" and "worker process died" in outcomes[0].reason
    assert [o.status for o in outcomes[1:]] == ["ok", "ok"]


def test_two_prefetching_workers_answer_every_request_once():
    names = ["crash_x64-normal.dmp", "seh_x86-normal.dmp"] * 4
    requests = [dict(r, sha256=f"{i:064x}") for i, r in enumerate(_requests(names))]
    pool = SlotPool(2, None, 120.0, depth=3)
    try:
        outcomes = list(pool.run(requests))
    finally:
        pool.close()
    assert sorted(o.sha256 for o in outcomes) == sorted(r["sha256"] for r in requests)
    assert all(o.status == "ok" for o in outcomes)
