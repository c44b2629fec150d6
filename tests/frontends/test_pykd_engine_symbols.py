"""Inside the debugger the engine names addresses first (findSymbolAndDisp), the project's
resolver second: every naming command shows a name only the stand-in engine knows.

The stand-in engine here answers from a small table (each loaded module's whole range named
``engine_only``): a name no symbol file on the path holds, so seeing it proves the engine was
asked first and its answer reached the output; parity with symbol files is in
test_pykd_parity.py."""

from __future__ import annotations

import re
from typing import Any, Iterator, List

import pytest

from pykd_support import json_of, load_standin, run_in_debugger
from tests.conftest import SAMPLES

SEH = SAMPLES / "dumps" / "seh_x86-full-trim-cv.dmp"
BIN = str(SAMPLES / "bin")
COMMANDS = {
    "stack": ["stack", "--json", "-y", BIN],
    "scan": ["scan", "--json", "-y", BIN],
    "exchain": ["exchain", "--json", "-y", BIN],
    "symbolize": ["symbolize", "--json", "-y", BIN],
    "patch-check": ["patch-check", "--json", "--function", "seh_x86!guard_inner", "-y", BIN],
}


def symbols(doc: Any) -> Iterator[str]:
    """Every non-null ``symbol`` or ``handler_name`` value in a JSON document."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key in ("symbol", "handler_name") and isinstance(value, str):
                yield value
            else:
                yield from symbols(value)
    elif isinstance(doc, list):
        for value in doc:
            yield from symbols(value)


def _run(args: List[str]) -> str:
    if not SEH.exists():
        pytest.skip(f"{SEH} absent")
    from toolkit.targets.open import open_target
    modules = open_target(SEH).modules()
    pykd = load_standin()
    pykd._standin_open(str(SEH), engine_symbols=[(m.base, m.end, "engine_only")
                                                  for m in modules])
    stdin = "".join(f"{m.base + 0x1000:#x}\n" for m in modules)
    code, out, _ = run_in_debugger(pykd, args, stdin)
    assert code == 0
    return out


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_name_in_a_module_comes_from_the_engine(command: str) -> None:
    out = _run(COMMANDS[command])
    assert "engine_only" in out
    names = set(symbols(json_of(out)))     # bare names, or module!name+0xdisp text
    assert names and all(re.fullmatch(r"(\w+!)?engine_only(\+0x[0-9a-f]+)?", n) for n in names)


def test_engine_names_reach_text_output() -> None:
    out = _run(["stack", "-y", BIN])
    assert "seh_x86!engine_only+0x" in out


def test_engine_first_resolver_keeps_the_project_resolver_for_everything_else() -> None:
    from toolkit.symbols.resolver import Resolver
    from toolkit.windbg import EngineFirstResolver
    inner = Resolver.from_symbol_path(BIN)
    wrapped = EngineFirstResolver(inner, target=None)
    assert wrapped.symbols_for == inner.symbols_for and wrapped.problems is inner.problems


def test_offline_commands_get_the_plain_resolver() -> None:
    import click
    from commands.common import symbol_resolver
    from toolkit.symbols.resolver import Resolver
    ctx = click.Context(click.Command("x"), obj=None)
    assert type(symbol_resolver(ctx, BIN)) is Resolver
