"""``dumpkit deadlock INPUT...``: wait chains and deadlocks across transcripts (and dumps)."""

from __future__ import annotations

from typing import Optional, Tuple

import click

from commands.common import json_option
from commands.output import echo, emit_json


@click.command("deadlock")
@click.argument("inputs", nargs=-1, required=False, type=click.Path(dir_okay=False))
@json_option
@click.option("--dot", "dot_path", type=click.Path(dir_okay=False, writable=True),
              help="Also write the wait graph as Graphviz DOT to this file.")
@click.option("--symbol-path", "-y", default=None,
              help="Symbol path for dump inputs' stacks (_NT_SYMBOL_PATH syntax); "
                   "default: $_NT_SYMBOL_PATH.")
@click.option("--no-evidence", is_flag=True, help="Text output without the evidence lines.")
@click.option("--command", "debugger_command", default=None,
              help="Inside a debugger with no INPUT: the command whose output is read "
                   "(default: !process 0 7 in kd; the current process otherwise).")
@click.pass_context
def deadlock(ctx: click.Context, inputs: Tuple[str, ...], as_json: bool, dot_path: Optional[str],
             symbol_path: Optional[str], no_evidence: bool, debugger_command: Optional[str]) -> None:
    """Find deadlocks (wait cycles) and blocked wait chains in INPUTs, merged into one graph.

    INPUTs are debugger transcripts (WinDbg/kd text: !process 0 7, !thread, ~*kv, !locks, !cs,
    !handle, !object) and, where the dump reader is available, minidumps.
    """
    from toolkit.waitgraph.inputs import report_for_paths
    from toolkit.waitgraph.render_dot import render_dot
    from toolkit.waitgraph.render_text import render_report

    from commands.common import symbol_resolver
    from commands.symbol_notes import emit_symbol_note, with_symbols

    resolvers = []
    if inputs:
        resolvers.append(symbol_resolver(ctx, symbol_path))
        report = report_for_paths(list(inputs), symbol_path, resolver=resolvers[0])
    else:   # inside WinDbg/kd: the front end reads the live session (toolkit.windbg)
        graph = (ctx.obj or {}).get("debugger_graph") if isinstance(ctx.obj, dict) else None
        if graph is None:
            raise click.UsageError("at least one INPUT is required outside a debugger")
        from toolkit.waitgraph.inputs import report_for_graphs
        report = report_for_graphs([graph(debugger_command, symbol_path)])
    if dot_path:
        with open(dot_path, "w", encoding="utf-8") as handle:
            handle.write(render_dot(report))
    if as_json:
        emit_json("deadlock", with_symbols(ctx, report.to_json(), resolvers))
        return
    for line in render_report(report, evidence=not no_evidence):
        echo(line)
    emit_symbol_note(ctx, resolvers)
