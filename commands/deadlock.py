"""``dumpkit deadlock INPUT...``: wait chains and deadlocks across transcripts (and dumps)."""

from __future__ import annotations

from typing import Optional, Tuple

import click

from commands.common import json_option
from commands.output import emit_json


@click.command("deadlock")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@json_option
@click.option("--dot", "dot_path", type=click.Path(dir_okay=False, writable=True),
              help="Also write the wait graph as Graphviz DOT to this file.")
@click.option("--no-evidence", is_flag=True, help="Text output without the evidence lines.")
def deadlock(inputs: Tuple[str, ...], as_json: bool, dot_path: Optional[str],
             no_evidence: bool) -> None:
    """Find deadlocks (wait cycles) and blocked wait chains in INPUTs, merged into one graph.

    INPUTs are debugger transcripts (WinDbg/kd text: !process 0 7, !thread, ~*kv, !locks, !cs,
    !handle, !object) and, where the dump reader is available, minidumps.
    """
    from toolkit.waitgraph.inputs import report_for_paths
    from toolkit.waitgraph.render_dot import render_dot
    from toolkit.waitgraph.render_text import render_report

    report = report_for_paths(list(inputs))
    if dot_path:
        with open(dot_path, "w", encoding="utf-8") as handle:
            handle.write(render_dot(report))
    if as_json:
        emit_json("deadlock", report.to_json())
        return
    for line in render_report(report, evidence=not no_evidence):
        click.echo(line)
