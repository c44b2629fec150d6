"""A thread waiting on a mutant it already owns (issue 12, "Stack walks" item 15) is a
recursive acquire, which a mutant grants: no deadlock. Built from kd ``!thread`` output read by
the installed ``dumpkit deadlock``, so the transcript reader, the graph and both renderings are
the ones a user runs."""

from __future__ import annotations

import json

from tests.hostile.hostile_inputs import run_dumpkit

SELF_OWNED = """\
kd> !thread ffffe00011110000
THREAD ffffe00011110000  Cid 0010.0020  Teb: 0000000000000000 Win32Thread: 0000000000000000 WAIT: (Executive) KernelMode Non-Alertable
    ffffe000aaaa0000  Mutant - owning thread ffffe00011110000
"""
ONE_OTHER_WAITER = SELF_OWNED + """\
kd> !thread ffffe00022220000
THREAD ffffe00022220000  Cid 0010.0030  Teb: 0000000000000000 Win32Thread: 0000000000000000 WAIT: (Executive) KernelMode Non-Alertable
    ffffe000aaaa0000  Mutant - owning thread ffffe00011110000
"""


def deadlock(tmp_path, text: str, *flags: str):
    path = tmp_path / "self_owned.txt"
    path.write_text(text)
    out = run_dumpkit("deadlock", *flags, str(path), timeout=60)
    assert "Traceback" not in out.stderr, out.stderr[-2000:]
    return out


def test_a_wait_on_a_mutant_the_thread_owns_is_no_cycle_in_json(tmp_path):
    doc = json.loads(deadlock(tmp_path, SELF_OWNED, "--json").stdout)
    assert doc["summary"]["deadlocks"] == 0 and doc["deadlocks"] == []
    assert "waitgraph.owner_waits_on_own_lock" in [p["code"] for p in doc["problems"]]


def test_the_text_view_prints_no_cycle_for_it(tmp_path):
    out = deadlock(tmp_path, ONE_OTHER_WAITER)
    assert "[CYCLE]" not in out.stdout, out.stdout


def test_another_waiter_on_that_mutant_is_blocked_behind_the_owner_not_in_a_cycle(tmp_path):
    doc = json.loads(deadlock(tmp_path, ONE_OTHER_WAITER, "--json").stdout)
    assert doc["summary"]["deadlocks"] == 0
    assert len(doc["blocked_chains"]) == 1
