"""Wait-for graphs and deadlock detection, an analysis over dumps, transcripts and pykd sessions.
May import: parsers, toolkit.model, .targets, .unwind, .symbols and other analyses; never commands.

Layout: ``model`` (nodes, edges, evidence, the joining builder), ``builders/`` (one module per input
kind: ``transcript`` for WinDbg/kd text, ``minidump`` for dumps), ``stack_waits`` (what a stack
waits on, shared by builders), ``merge`` (several inputs into one graph), ``debugger_rule``
(debuggee frozen for its debugger), ``analysis`` (cycles, blocked chains, unowned waits),
``render_text`` / ``render_dot`` (strings for the front ends), ``inputs`` (paths -> report).
"""

from __future__ import annotations

from toolkit.waitgraph.analysis import DeadlockReport, analyse
from toolkit.waitgraph.inputs import load_graph, report_for_graphs, report_for_paths
from toolkit.waitgraph.merge import merge_graphs
from toolkit.waitgraph.model import WaitGraph

__all__ = ["DeadlockReport", "WaitGraph", "analyse", "load_graph", "merge_graphs",
           "report_for_graphs", "report_for_paths"]
