"""``dumpkit scan DUMP``: every stack slot that points into code, like ``dps`` with verdicts."""

from __future__ import annotations

from typing import Optional, Tuple

import click

from commands.common import json_option, load_target
from commands.output import echo, emit_json
from commands.stack import _addr
from toolkit.model.hexfmt import hex_int


def _range(text: str) -> Tuple[int, int]:
    try:
        start, end = (int(part, 16) for part in text.replace("`", "").split("-", 1))
    except ValueError:
        raise click.BadParameter(f"expected START-END in hex, got {text!r}",
                                 param_hint="--range") from None
    if end <= start:
        raise click.BadParameter("END must be above START", param_hint="--range")
    return start, end


@click.command("scan")
@click.argument("dump", required=False, type=click.Path(dir_okay=False))
@click.option("--thread", "tid", type=str, default=None, help="Only this thread (decimal or 0x).")
@click.option("--range", "range_text", default=None, help="Scan START-END (hex) instead.")
@click.option("--only-verified", is_flag=True, help="Keep only call-preceded hits.")
@click.option("--symbol-path", "-y", default=None, help="Symbol path (_NT_SYMBOL_PATH syntax).")
@json_option
@click.pass_context
def scan(ctx: click.Context, dump: Optional[str], tid: Optional[str], range_text: Optional[str],
         only_verified: bool, symbol_path: Optional[str], as_json: bool) -> None:
    """Conservative scan: each pointer-sized slot from SP to the stack base, classified."""
    from toolkit.stackwalk.scan import scan_range, scan_threads
    from commands.common import symbol_resolver

    target = load_target(ctx, dump)
    resolver = symbol_resolver(ctx, symbol_path)
    if range_text is not None:
        start, end = _range(range_text)
        report = scan_range(target, start, end, resolver, only_verified=only_verified)
    else:
        tids = None
        if tid is not None:
            try:
                tids = [int(tid, 0)]
            except ValueError:
                raise click.BadParameter(f"not a thread id: {tid}", param_hint="--thread") \
                    from None
        report = scan_threads(target, resolver, tids=tids, only_verified=only_verified)
    from commands.symbol_notes import emit_symbol_note, with_symbols

    if as_json:
        emit_json("scan", with_symbols(ctx, report.to_json(), [resolver]))
        return
    ps = report.pointer_size
    for region in report.regions:
        head = (f"Thread {region.tid} ({hex_int(region.tid)})" if region.tid is not None
                else "Range")
        echo(f"{head}: {_addr(region.start, ps)}-{_addr(region.end, ps)}, "
                   f"{region.slots} slots, {len(region.hits)} code pointers, "
                   f"{region.verified} call-verified")
        for hit in region.hits:
            verdict = "call" if hit.call_verified else "    "
            where = hit.location.format(ps) if hit.location is not None else hit.kind
            echo(f"{_addr(hit.slot, ps)}  {_addr(hit.value, ps)} {verdict} {where}")
        for problem in region.problems:
            echo(f"  problem: {problem.code}: {problem.message}")
        echo("")
    emit_symbol_note(ctx, [resolver])
