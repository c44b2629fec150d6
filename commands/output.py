"""Rendering helpers shared by commands: JSON envelopes and the rich console."""

from __future__ import annotations

import json
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
