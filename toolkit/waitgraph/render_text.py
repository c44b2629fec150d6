"""Wait Chain Traversal style text for a deadlock report.

``thread 1234.5678 waits for Mutant "Name" owned by thread 1234.9abc which waits for ...  [CYCLE]``

Kept in toolkit (it returns lines, it does not print) because both the CLI and the WinDbg front
end show the same sentences.
"""

from __future__ import annotations

from typing import List, Sequence

from toolkit.waitgraph.analysis import END_KINDS, DeadlockReport, Hop
from toolkit.waitgraph.model import ThreadNode, WaitGraph


def thread_label(node: ThreadNode) -> str:
    text = f"thread {node.display()}"
    if node.process_name:
        text += f" ({node.process_name})"
    return text


def describe_path(graph: WaitGraph, hops: Sequence[Hop], closed: bool) -> str:
    """One sentence for a path of alternating threads and resources."""
    parts: List[str] = []
    resources_seen = 0
    for position, hop in enumerate(hops):
        node = graph.nodes[hop.node]
        if isinstance(node, ThreadNode):
            parts.append(thread_label(node) if position == 0 else
                         f"owned by {thread_label(node)}")
        else:
            verb = "waits for" if resources_seen == 0 else "which waits for"
            resources_seen += 1
            parts.append(f"{verb} {node.display()}")
    if closed and hops:
        parts.append(f"owned by {thread_label(graph.nodes[hops[0].node])}")
    return " ".join(parts)


def evidence_lines(hops: Sequence[Hop], indent: str = "       ") -> List[str]:
    out = []
    for hop in hops:
        for ev in hop.evidence:
            out.append(f"{indent}{ev.where()}: {ev.text}")
    return out


def render_report(report: DeadlockReport, evidence: bool = True, max_skipped: int = 5) -> List[str]:
    g = report.graph
    lines: List[str] = []
    threads = sum(1 for n in g.nodes if isinstance(n, ThreadNode))
    lines.append(f"Wait graph: {threads} threads, {len(g.nodes) - threads} resources, "
                 f"{len(g.edges)} edges from {len(g.sources)} input(s)")
    lines.append("")
    lines.append(f"Deadlocks: {len(report.cycles)}")
    for n, cycle in enumerate(report.cycles, 1):
        lines.append(f"  {n}. {describe_path(g, cycle.hops, True)}  [CYCLE]")
        if evidence:
            lines.extend(evidence_lines(cycle.hops))
    lines.append("")
    lines.append(f"Blocked chains: {len(report.chains)}")
    for n, chain in enumerate(report.chains, 1):
        if chain.end == "cycle":
            tag = f"[DEADLOCK {chain.cycle + 1 if chain.cycle is not None else '?'}]"
        elif chain.end == "joins":
            tag = f"[JOINS CHAIN {chain.joins + 1 if chain.joins is not None else '?'}]"
        else:
            tag = f"[{chain.end.upper().replace('_', ' ')}: {END_KINDS[chain.end]}]"
        lines.append(f"  {n}. {describe_path(g, chain.hops, False)}  {tag}")
        if evidence:
            lines.extend(evidence_lines(chain.hops))
    lines.append("")
    lines.append(f"Waits on resources without a known owner: {len(report.unowned)}")
    for wait in report.unowned:
        why = "not owned" if wait.owner_known else "owner not in the input"
        lines.append(f"  {thread_label(g.nodes[wait.thread])} waits for "
                     f"{g.nodes[wait.resource].display()}  [{why}]")
    if report.problems:
        lines.append("")
        lines.append(f"Problems: {len(report.problems)}")
        lines.extend(f"  {p.code}: {p.message}" for p in report.problems)
    if g.skipped:
        lines.append("")
        lines.append(f"Skipped (recognised but unusable) lines: {len(g.skipped)}")
        lines.extend(f"  {s.where()}: {s.text}" for s in g.skipped[:max_skipped])
        if len(g.skipped) > max_skipped:
            lines.append(f"  ... {len(g.skipped) - max_skipped} more (see --json)")
    return lines


__all__ = ["render_report", "describe_path", "thread_label"]
