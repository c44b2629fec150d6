"""The symbol note of the walking commands (stack, scan, exchain, deadlock).

After the walk, one line per module the resolver was asked about goes to stderr (like
``symbolize``'s ``*** missing symbols``), or a ``symbols`` array into the JSON document; the
records come from toolkit.triage.symbol_status, the same ones ``analyze`` prints. Inside a
debugger there is no note: the engine loads the symbols and reports that itself.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable

import click


def in_debugger(ctx: click.Context) -> bool:
    return isinstance(ctx.obj, dict) and bool(ctx.obj.get("in_debugger"))


def emit_symbol_note(ctx: click.Context, resolvers: Iterable[Any]) -> None:
    """One ``*** <status> symbols for <module>: <where or why>`` line per module, on stderr."""
    if in_debugger(ctx):
        return
    for status in symbol_statuses(resolvers):
        click.echo(status.summary_line(), err=True)


def with_symbols(ctx: click.Context, doc: Dict[str, Any],
                 resolvers: Iterable[Any]) -> Dict[str, Any]:
    """``doc`` with its ``symbols`` array (docs/json-schema.md, "symbols")."""
    if in_debugger(ctx):
        return doc
    doc["symbols"] = [s.to_json() for s in symbol_statuses(resolvers)]
    return doc


def symbol_statuses(resolvers: Iterable[Any]):  # type: ignore[no-untyped-def]
    from toolkit.triage.symbol_status import loaded_symbol_status

    out = []
    for resolver in resolvers:
        out.extend(loaded_symbol_status(resolver))
    return out


__all__ = ["emit_symbol_note", "with_symbols", "symbol_statuses"]
