"""``dumpkit patch-check DUMP --function mod!name --range mod+start-end``: Ksplice's question."""

from __future__ import annotations

from typing import Optional, Tuple

import click

from commands.common import json_option, load_target
from commands.output import echo, emit_json
from commands.stack import _addr
from toolkit.model.hexfmt import hex_int


@click.command("patch-check")
@click.argument("dump", required=False, type=click.Path(dir_okay=False))
@click.option("--function", "functions", multiple=True, help="module!function (repeatable).")
@click.option("--range", "ranges", multiple=True, help="module+START-END in hex (repeatable).")
@click.option("--symbol-path", "-y", default=None, help="Symbol path (_NT_SYMBOL_PATH syntax).")
@json_option
@click.pass_context
def patch_check(ctx: click.Context, dump: Optional[str], functions: Tuple[str, ...],
                ranges: Tuple[str, ...], symbol_path: Optional[str], as_json: bool) -> None:
    """Is it safe to replace these functions now? (IP inside, or any stack slot into them)."""
    from toolkit.stackwalk.patch_check import patch_check as run
    from commands.common import symbol_resolver

    if not functions and not ranges:
        raise click.UsageError("give at least one --function or --range")
    target = load_target(ctx, dump)
    report = run(target, functions, ranges, symbol_resolver(ctx, symbol_path))
    if as_json:
        emit_json("patch-check", report.to_json())
        return
    ps = report.pointer_size
    for f in report.functions:
        echo(f"{f.spec}: {_addr(f.start, ps)}-{_addr(f.end, ps)} ({f.source})")
    for t in report.threads:
        echo(f"Thread {t.tid} ({hex_int(t.tid)}): {t.verdict} "
                   f"({t.slots} slots)")
        for e in t.evidence:
            where = "IP" if e.kind == "ip" else _addr(e.slot, ps)
            verdict = ("executing" if e.kind == "ip" else
                       "return address (call-verified)" if e.call_verified else "possible")
            echo(f"  {where:>{8 if ps == 4 else 17}}  {_addr(e.value, ps)}  "
                       f"{e.symbol or ''}  [{verdict}] in {e.function}")
        for p in t.problems:
            echo(f"  problem: {p.code}: {p.message}")
    echo(f"Overall: {report.verdict}")
