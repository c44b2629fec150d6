"""Several inputs, one graph: a cycle that crosses processes only shows once they are joined.

Nodes join on any shared identity key (``model.GraphBuilder``): threads by pid.tid or by kernel
thread address, resources by object address, by object name (``\\Sessions\\1\\BaseNamedObjects\\X``
and ``X`` are the same), or by pid + handle / pid + critical-section address. So a kd transcript
that knows a mutant by address, a ``!handle`` listing that knows it by name and a dump that knows
its owner by pid.tid all land on one node.
"""

from __future__ import annotations

from typing import Sequence

from toolkit.waitgraph.model import GraphBuilder, WaitGraph


def merge_graphs(graphs: Sequence[WaitGraph]) -> WaitGraph:
    """One graph holding every node, edge, stack, process and problem of ``graphs``."""
    if len(graphs) == 1:
        return graphs[0]
    builder = GraphBuilder()
    for graph in graphs:
        builder.absorb(graph)
    return builder.build()


__all__ = ["merge_graphs"]
