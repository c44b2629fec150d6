"""The stack-walker-free part of the minidump builder: owners from handle data and memory."""

from __future__ import annotations

from tests.conftest import corpus_path
from toolkit.waitgraph.builders.minidump import decode_lock_count
from toolkit.waitgraph.inputs import load_graph
from toolkit.waitgraph.model import ThreadNode


def test_new_lock_count_encoding_counts_waiters_from_the_ones_complement():
    # the docs' example: LockCount -22 = locked, no waiter woken, 5 waiting
    assert decode_lock_count(-22, True) == (True, 5)
    assert decode_lock_count(-1, True) == (False, 0)


def test_old_lock_count_encoding_is_minus_one_when_free():
    assert decode_lock_count(-1, False) == (False, 0)
    assert decode_lock_count(5, False) == (True, 5)


def test_dump_threads_become_nodes_and_the_missing_stack_walker_is_said():
    graph = load_graph(str(corpus_path("breakpad/processor/minidump2.dmp")))
    assert sum(isinstance(n, ThreadNode) for n in graph.nodes) == 2
    codes = [p.code for p in graph.problems]
    assert "no-stack-waits" in codes and "no-handle-data" in codes
