"""The debugger/debuggee case from the issue, on hand-written kd `!process 0 7` transcripts."""

from __future__ import annotations

from pathlib import Path

from toolkit.waitgraph.inputs import report_for_graphs, report_for_paths
from toolkit.waitgraph.builders.transcript import build_from_text
from toolkit.waitgraph.model import ResourceKind, ThreadNode

HERE = Path(__file__).resolve().parents[2] / "waitgraph_transcripts"


def _path_kinds(report, hops):
    out = []
    for hop in hops:
        node = report.graph.nodes[hop.node]
        out.append(node.display() if isinstance(node, ThreadNode) else node.kind.value)
    return out


def _rotate_to(seq, first):
    i = seq.index(first)
    return seq[i:] + seq[:i]


def test_debuggee_and_debugger_form_the_expected_cycle():
    report = report_for_paths([str(HERE / "debugger_deadlock.txt")])
    (cycle,) = report.cycles
    assert _rotate_to(_path_kinds(report, cycle.hops), "1a2c.1b40") == [
        "1a2c.1b40", "debug_port", "f10.11c8", "mutant"]


def test_the_cycle_mutex_is_named_from_object_output():
    report = report_for_paths([str(HERE / "debugger_deadlock.txt")])
    names = {getattr(report.graph.nodes[h.node], "name", None) for h in report.cycles[0].hops}
    assert "WininetProxyRegistryMutex" in names


def test_browser_thread_is_a_blocked_chain_hanging_off_the_mutex():
    report = report_for_paths([str(HERE / "debugger_deadlock.txt")])
    (chain,) = report.chains
    assert _path_kinds(report, chain.hops) == ["2204.2b30", "mutant", "1a2c.1b40"]
    assert (chain.end, chain.cycle) == ("cycle", 0)


def test_without_the_debug_port_edge_there_is_no_cycle():
    report = report_for_paths([str(HERE / "debugger_no_debug_port.txt")])
    assert report.cycles == ()
    assert all(report.graph.nodes[n].kind is not ResourceKind.DEBUG_PORT
               for n in range(len(report.graph.nodes))
               if not isinstance(report.graph.nodes[n], ThreadNode))


def test_with_the_mutex_released_there_is_no_cycle():
    report = report_for_paths([str(HERE / "debugger_mutex_released.txt")])
    assert report.cycles == ()
    ends = sorted(c.end for c in report.chains)
    assert ends == ["joins", "owner_not_waiting"]


def test_the_cycle_is_found_across_three_separate_inputs():
    text = (HERE / "debugger_deadlock.txt").read_text()
    parts = text.split("\nPROCESS ffff")
    pieces = ["PROCESS ffff" + p for p in parts[1:]]
    assert len(pieces) == 3
    graphs = [build_from_text(piece, f"part{i}.txt") for i, piece in enumerate(pieces)]
    report = report_for_graphs(graphs)
    (cycle,) = report.cycles
    assert sorted(_path_kinds(report, cycle.hops)) == sorted(
        ["1a2c.1b40", "debug_port", "f10.11c8", "mutant"])
    assert len(report.chains) == 1


def test_several_debugger_candidates_are_all_kept_and_reported():
    text = (HERE / "debugger_deadlock.txt").read_text()
    second = text.replace("Cid: 0f10", "Cid: 0f99").replace("Cid 0f10.", "Cid 0f99.") \
        .replace("ffffe0000c07a880", "ffffe0000c07a990").replace("ffffe0000a5b7080", "ffffe0000a5b7190")
    start = second.index("PROCESS ffffe0000a5a1900")
    end = second.index("PROCESS ffffe0000b2d6900")
    extra = second[start:end].replace("ffffe0000a5a1900", "ffffe0000a5a1a00") \
        .replace("ParentCid: 0b8c", "ParentCid: 0b8d")
    original = build_from_text(text.replace("ParentCid: 0f10", "ParentCid: 0b8c"), "a.txt")
    report = report_for_graphs([original, build_from_text(extra, "b.txt")])
    assert "several-debugger-candidates" in [p.code for p in report.problems]
