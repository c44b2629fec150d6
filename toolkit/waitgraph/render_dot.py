"""Graphviz DOT text for a wait graph, deadlock cycles drawn in red.

Pure text generation, so it lives beside the analysis (the WinDbg front end writes the same file);
the command decides where the text goes. Only nodes that take part in a wait (an edge) are drawn:
a whole-system ``!process 0 7`` has thousands of idle threads that would bury the picture.
"""

from __future__ import annotations

from typing import List, Set, Tuple

from toolkit.waitgraph.analysis import DeadlockReport
from toolkit.waitgraph.model import EdgeKind, ThreadNode


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def render_dot(report: DeadlockReport) -> str:
    """A ``digraph`` with threads as boxes, resources as ellipses, cycle edges red and bold."""
    g = report.graph
    cycle_edges: Set[Tuple[int, int]] = set()
    cycle_nodes: Set[int] = set()
    for cycle in report.cycles:
        hops = cycle.hops
        for i, hop in enumerate(hops):
            cycle_edges.add((hop.node, hops[(i + 1) % len(hops)].node))
            cycle_nodes.add(hop.node)
    used: Set[int] = set()
    for e in g.edges:
        used.add(e.src)
        used.add(e.dst)
    lines: List[str] = ["digraph waitgraph {", "  rankdir=LR;",
                        '  node [fontname="Helvetica", fontsize=10];',
                        '  edge [fontname="Helvetica", fontsize=9];']
    for i in sorted(used):
        node = g.nodes[i]
        if isinstance(node, ThreadNode):
            label = f"thread {node.display()}"
            if node.process_name:
                label += f"\n{node.process_name}"
            label += f"\n{node.state.value}"
            shape = "box"
        else:
            label = node.display()
            shape = "ellipse"
        style = ', color=red, penwidth=2, fontcolor=red' if i in cycle_nodes else ""
        lines.append(f"  n{i} [shape={shape}, label={_quote(label)}{style}];")
    for e in g.edges:
        label = "waits for" if e.kind is EdgeKind.WAITS_FOR else "owned by"
        style = ', color=red, penwidth=2.5, fontcolor=red' if (e.src, e.dst) in cycle_edges \
            else ("" if e.kind is EdgeKind.WAITS_FOR else ", style=dashed")
        lines.append(f"  n{e.src} -> n{e.dst} [label={_quote(label)}{style}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


__all__ = ["render_dot"]
