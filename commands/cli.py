"""The ``dumpkit`` click group: command registry and the one place errors become exit codes."""

from __future__ import annotations

import importlib
import sys
from typing import List, Optional

import click

from toolkit import __version__
from toolkit.model.errors import DumpkitError

# (command name, module under commands/, attribute): imported lazily so `dumpkit --help` and
# each command load only what they need.
COMMANDS = [
    ("info", "commands.info", "info"),
    ("debugdir", "commands.debugdir", "debugdir"),
    ("symbolize", "commands.symbolize", "symbolize"),
    ("trace", "commands.trace", "trace"),
    ("deadlock", "commands.deadlock", "deadlock"),
    ("stack", "commands.stack", "stack"),
    ("scan", "commands.scan", "scan"),
    ("patch-check", "commands.patch_check", "patch_check"),
    ("exchain", "commands.exchain", "exchain"),
    ("analyze", "commands.analyze", "analyze"),
    ("triage", "commands.triage", "triage"),
]


class DumpkitGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> List[str]:
        return [name for name, _, _ in COMMANDS]

    def get_command(self, ctx: click.Context, name: str) -> Optional[click.Command]:
        for cmd_name, module, attr in COMMANDS:
            if cmd_name == name:
                return getattr(importlib.import_module(module), attr)
        return None

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except DumpkitError as exc:
            _fail(type(exc).__name__, str(exc))
        except BrokenPipeError:
            # `dumpkit ... | head`: the reader left; stop quietly like other Unix tools.
            _quiet_exit_after_broken_pipe()
        except (OSError, MemoryError) as exc:
            _fail(type(exc).__name__, _os_message(exc))


def _os_message(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        return f"{exc.strerror}: {exc.filename}"
    return str(exc) or type(exc).__name__


def _quiet_exit_after_broken_pipe() -> None:
    import os
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(0)


def _fail(name: str, message: str) -> None:
    from commands.output import escape_controls
    click.echo(f"{name}: {' '.join(escape_controls(message).split())}", err=True)
    sys.exit(2)


@click.group(cls=DumpkitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dumpkit")
def cli() -> None:
    """Analyse Windows crash dumps, PE images and traces like a debugger extension."""


def main(argv: Optional[List[str]] = None) -> None:
    cli.main(args=argv, prog_name="dumpkit")
