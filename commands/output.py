"""Rendering helpers shared by commands: JSON envelopes and the rich console."""

from __future__ import annotations

import json
import re
import sys
from typing import Any, Dict

import click

SCHEMA_VERSION = 1


def emit_json(command: str, payload: Dict[str, Any]) -> None:
    """Print one JSON object: ``schema_version`` and ``command`` first, then the payload."""
    doc = {"schema_version": SCHEMA_VERSION, "command": command}
    doc.update(payload)
    click.echo(json.dumps(doc, indent=2))


def console():
    """A rich console on stdout; colour only when stdout is a terminal."""
    from rich.console import Console
    return Console(file=sys.stdout, highlight=False, soft_wrap=True,
                   force_terminal=None if sys.stdout.isatty() else False, width=200)


# Words a reader scans for, coloured only on a terminal (pipes and WinDbg get plain text).
_HIGHLIGHTS = (
    (r"\b(invalid|UNSAFE|FAIL(ED)?)\b|\[CYCLE\]|\[DEADLOCK \d+\]", "bold red"),
    (r"\b(unverifiable|heuristic|scan|possible)\b", "yellow"),
    (r"\b(valid|SAFE|pass|context|cfi|call-verified|call)\b", "green"),
    (r"^(Thread|Deadlocks|Blocked chains|Policy|Overall)\b[^:]*:?", "bold"),
)


def echo(line: str = "") -> None:
    """One line of a command's text view: rich colour on a terminal, plain text elsewhere."""
    if not sys.stdout.isatty():
        click.echo(line)
        return
    from rich.text import Text
    text = Text(line)
    for pattern, style in _HIGHLIGHTS:
        text.highlight_regex(re.compile(pattern, re.M), style)
    console().print(text)
