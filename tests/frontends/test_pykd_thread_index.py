"""Inside the debugger ``stack ~N`` has no DUMP before it: the first argument is the thread
index, as ``~Nk`` is in WinDbg (the session's target is the dump)."""

from __future__ import annotations

import json

from pykd_support import load_standin, run_in_debugger
from tests.conftest import corpus_path


def _stack_in_debugger(*args: str) -> dict:
    dump = corpus_path("breakpad/processor/thread_name_list.dmp")
    pykd = load_standin()
    pykd._standin_open(str(dump))
    code, out, _ = run_in_debugger(pykd, ["stack", *args, "--json"])
    assert code == 0, out
    return json.loads(out)


def test_tilde_index_without_a_dump_selects_the_sessions_thread():
    threads = _stack_in_debugger("~4")["threads"]
    assert [(t["index"], t["tid"]) for t in threads] == [(4, 8820)]   # ~4 of the dump's list


def test_tilde_star_without_a_dump_walks_every_thread():
    assert [t["index"] for t in _stack_in_debugger("~*")["threads"]] == [0, 1, 2, 3, 4, 5]
