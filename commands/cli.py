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

# `dumpkit --help` lists these without importing any command module (each pulls numpy, construct
# or pefile). tests/commands/test_cli_lazy.py checks each matches the command's own docstring; a
# command missing here is imported for its help line.
SHORT_HELP = {
    "info": "System, exception, threads and modules of DUMP.",
    "debugdir": "Debug directory, load config and SafeSEH handlers of FILE (PE, minidump or blob).",
    "symbolize": "Resolve addresses (stdin or INPUT) or every event of a trace file INPUT.",
    "trace": "Capture and inspect trace files (module table + address events).",
    "deadlock": "Find deadlocks (wait cycles) and blocked wait chains in INPUTs, merged into one "
                "graph.",
    "stack": "Walk thread stacks: context, unwind info, frame pointer, scan (trust per frame).",
    "scan": "Conservative scan: each pointer-sized slot from SP to the stack base, classified.",
    "patch-check": "Is it safe to replace these functions now? (IP inside, or any stack slot into "
                   "them).",
    "exchain": "The SEH chain of DUMP's exception thread (or others), judged record by record.",
    "analyze": "Exception, faulting access and instruction, crashing stack, symbols, SEH, wait "
               "chains, and the crash's bucket and Socorro signature.",
    "triage": "Triage dumps: files, directories, globs, @list.txt, .zip/.tar.* archives, "
              "compressed dumps.",
}


class DumpkitGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> List[str]:
        return [name for name, _, _ in COMMANDS]

    def get_command(self, ctx: click.Context, name: str) -> Optional[click.Command]:
        for cmd_name, module, attr in COMMANDS:
            if cmd_name == name:
                return getattr(importlib.import_module(module), attr)
        return None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max((len(n) for n in names), default=0)
        rows = []
        for name in names:
            text = SHORT_HELP.get(name)
            if text is None:
                cmd = self.get_command(ctx, name)
                if cmd is None or cmd.hidden:
                    continue
                rows.append((name, cmd.get_short_help_str(limit)))
            else:
                rows.append((name, click.Command(name, help=text).get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

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
