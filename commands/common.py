"""Options and the target opener every command shares.

Commands never open files themselves: they ask ``load_target`` so that the WinDbg front end can
hand in the debugger's current target instead of a dump path.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import click

from toolkit.model.target import Target

def _set_pretty(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    from commands import output
    output.PRETTY = bool(value)
    return value


def json_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--json`` (one compact JSON object, C encoder) and ``--pretty`` (the same, indented)."""
    f = click.option("--pretty", is_flag=True, expose_value=False, callback=_set_pretty,
                     help="With --json: indent the JSON (slower on large outputs).")(f)
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")(f)


def load_target(ctx: click.Context, path: Optional[str]) -> Target:
    """The target to analyse: the debugger's (when a front end put one in ctx.obj) or PATH's."""
    factory: Optional[Callable[[], Target]] = (ctx.obj or {}).get("target_factory") \
        if isinstance(ctx.obj, dict) else None
    if factory is not None and path is None:
        return factory()
    if path is None:
        raise click.UsageError("a dump file is required")
    from toolkit.targets.open import open_target
    return open_target(path)


def symbol_resolver(ctx: click.Context, symbol_path: Optional[str], **kwargs: Any) -> Any:
    """The symbol resolver for ``--symbol-path`` (``Resolver.from_symbol_path``); inside a
    debugger the front end wraps it (``ctx.obj["wrap_resolver"]``) so the engine names
    addresses first and this resolver second."""
    from toolkit.symbols.resolver import Resolver
    resolver = Resolver.from_symbol_path(symbol_path, **kwargs)
    warnings = getattr(resolver.locator, "path_warnings", None)
    for warning in (warnings() if warnings is not None else []):
        click.echo(f"warning: {warning}", err=True)
    wrap = ctx.obj.get("wrap_resolver") if isinstance(ctx.obj, dict) else None
    return wrap(resolver) if wrap is not None else resolver
