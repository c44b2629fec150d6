"""DOT output is valid Graphviz and highlights the deadlock."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from toolkit.waitgraph.inputs import report_for_paths
from toolkit.waitgraph.render_dot import render_dot

HERE = Path(__file__).resolve().parents[2] / "waitgraph_transcripts"


def test_dot_renders_with_graphviz(tmp_path):
    if shutil.which("dot") is None:
        pytest.skip("Graphviz `dot` is not installed (Debian package graphviz)")
    text = render_dot(report_for_paths([str(HERE / "debugger_deadlock.txt")]))
    done = subprocess.run(["dot", "-Tsvg"], input=text.encode(), capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    assert b"<svg" in done.stdout and b"WininetProxyRegistryMutex" in done.stdout


def test_cycle_edges_are_red_and_other_edges_are_not():
    text = render_dot(report_for_paths([str(HERE / "debugger_deadlock.txt")]))
    edges = [line for line in text.splitlines() if "->" in line]
    assert sum("color=red" in e for e in edges) == 4      # two threads, two resources
    assert len(edges) == 6
