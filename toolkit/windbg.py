"""The in-debugger entry point: ``!py -m toolkit <command>`` (pykd-ext) or
``!py <path>/toolkit/__main__.py <command>`` (plain pykd) runs the dumpkit click group against
the debugger's current target.

* The target is ``PykdTarget(pykd)``: commands call ``load_target`` with no path and get it.
* Output goes through ``pykd.dprintln``; when the engine takes DML (inside WinDbg), text is
  escaped and a few things become links: stack frame numbers run ``.frame 0nN``, thread lines
  switch thread, module lines run ``lmvm``.
* Symbols: the engine's ``findSymbolAndDisp`` first, the project's resolver second. Commands
  build their resolver with ``commands.common.symbol_resolver``, which wraps it with
  ``ctx.obj["wrap_resolver"]`` (``EngineFirstResolver``): every name symbolize, stack, scan,
  exchain, patch-check and deadlock print comes from ``Resolver.lookup``, so that one method is
  where the engine is asked first. ``ctx.obj["symbolizer"]`` (``EngineFirstSymbolizer``) is the
  same rule for one address as text.
* Kernel sessions: ``ctx.obj["debugger_command"]`` runs a command through ``dbgCommand`` so the
  deadlock command can read ``!process 0 7`` live.

This module is the only place that knows the click group runs inside a debugger; the toolkit
never prints, and the commands still just ``click.echo``.
"""

from __future__ import annotations

import contextlib
import html
import io
import re
import sys
from typing import Any, Callable, Dict, List, Optional, Sequence

DML_FRAME = re.compile(r"^(\s*)([0-9a-f]{2,3})(\s+[0-9a-f`]{8,17}\s)")
DML_THREAD = re.compile(r"Id: ([0-9a-f]+)\.([0-9a-f]+)")
DML_MODULE = re.compile(r"^([0-9a-f`]{8,17} [0-9a-f`]{8,17}\s+)(\S+)")


def in_windbg() -> bool:
    """``import pykd`` works and the script runs inside a debugger (not standalone pykd)."""
    try:
        import pykd  # type: ignore[import-not-found]
    except ImportError:
        return False
    try:
        return bool(pykd.isWindbgExt())
    except Exception:  # noqa: BLE001 - any pykd failure means "not in a debugger"
        return False


def dml_line(line: str) -> str:
    """One text line as DML: escaped, with links where a WinDbg user would click."""
    frame = DML_FRAME.match(line)
    if frame:
        number = int(frame.group(2), 16)
        rest = html.escape(line[frame.end(2):], quote=False)
        return (f"{frame.group(1)}<link cmd=\".frame 0n{number}\">{frame.group(2)}</link>"
                f"{rest}")
    module = DML_MODULE.match(line)
    if module:
        name = module.group(2).rsplit(".", 1)[0]
        return (html.escape(module.group(1), quote=False)
                + f"<link cmd=\"lmvm {html.escape(name)}\">{html.escape(module.group(2))}</link>"
                + html.escape(line[module.end(2):], quote=False))
    escaped = html.escape(line, quote=False)
    return DML_THREAD.sub(lambda m: f"Id: {m.group(1)}.<link cmd=\"~~[0x{m.group(2)}]s\">"
                                    f"{m.group(2)}</link>", escaped)


class DprintStream(io.TextIOBase):
    """A text stream whose complete lines go to ``pykd.dprintln`` (as DML when enabled)."""

    def __init__(self, pykd: Any, dml: bool) -> None:
        super().__init__()
        self.pykd = pykd
        self.dml = dml
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self.echo(line)
        return len(text)

    def echo(self, line: str) -> None:
        if self.dml:
            self.pykd.dprintln(dml_line(line), True)
        else:
            self.pykd.dprintln(line)

    def flush(self) -> None:
        if self._pending:
            line, self._pending = self._pending, ""
            self.echo(line)


class EngineFirstSymbolizer:
    """``module!symbol+0xdisp`` for an address: the engine's answer when it has a symbol name,
    else the project's resolver over the target's modules (``fallback``), else ``module+0xoff``."""

    def __init__(self, target: Any, fallback: Optional[Callable[[int], Optional[str]]] = None
                 ) -> None:
        self.target = target
        self.fallback = fallback

    def __call__(self, address: int) -> str:
        found = self.target.engine_symbol(address)
        if found is not None:
            module, symbol, disp = found
            return f"{module}!{symbol}" + (f"+{disp:#x}" if disp else "")
        if self.fallback is not None:
            text = self.fallback(address)
            if text:
                return text
        module = self.target.module_at(address)
        if module is None:
            return f"{address:#0{self.target.pointer_size * 2 + 2}x}"
        return f"{module.name.rsplit('.', 1)[0]}+{address - module.base:#x}"


class EngineFirstResolver:
    """A ``toolkit.symbols.resolver.Resolver`` whose ``lookup`` asks the debugger engine first.

    When the engine names the function at an address (``findSymbolAndDisp``, line from
    ``getSourceLine``), that is the answer; otherwise the project's resolver answers as it does
    offline. Everything else (symbol files for unwinding, function tables, prefetch, problems)
    is the wrapped resolver's, so stack walking and patch-check extents are unchanged."""

    answers_per_address = True     # batch symbolization must call lookup for every address

    def __init__(self, resolver: Any, target: Any) -> None:
        self._resolver = resolver
        self._target = target

    def __getattr__(self, name: str) -> Any:
        return getattr(self._resolver, name)

    def lookup(self, module: Any, address: int, *, lines: bool = True,
               inlines: bool = False) -> Any:
        found = self._target.engine_symbol(address)
        if found is None:
            return self._resolver.lookup(module, address, lines=lines, inlines=inlines)
        from toolkit.symbols.location import Location, SymbolStatus
        _, symbol, disp = found
        source = self._target.engine_source_line(address) if lines else None
        file, line = source if source is not None else (None, None)
        return Location(address, module.name, module.base, symbol, disp, file, line,
                        status=SymbolStatus.EXACT, reason="named by the debugger engine")


def project_resolver(target: Any) -> Callable[[int], Optional[str]]:
    """The project's own symbol lookup over the target's modules (symbol path from
    ``_NT_SYMBOL_PATH``), as a fallback for addresses the engine has no symbol for."""
    def lookup(address: int) -> Optional[str]:
        try:
            import numpy as np
            from toolkit.symbols.resolver import Resolver
            from toolkit.symbols.symbolize import Symbolizer
            engine = Symbolizer(Resolver.from_symbol_path(None), target.modules(), lines=False)
            location = engine.run_addresses(np.array([address], dtype=np.uint64))[0]
        except Exception:  # noqa: BLE001 - a fallback must not break the engine's answer
            return None
        return location.format(target.pointer_size) if location.symbol else None
    return lookup


def context_object(pykd: Any) -> Dict[str, Any]:
    """What commands find in ``ctx.obj`` inside the debugger."""
    from toolkit.targets.pykd.target import PykdTarget

    holder: Dict[str, Any] = {}

    def target() -> Any:
        if "target" not in holder:
            holder["target"] = PykdTarget(pykd)
        return holder["target"]

    def symbolizer(address: int) -> str:
        t = target()
        return EngineFirstSymbolizer(t, project_resolver(t))(address)

    def echo(line: str = "") -> None:
        pykd.dprintln(line)

    kernel = bool(pykd.isKernelDebugging())

    def debugger_command(command: str) -> str:
        return str(pykd.dbgCommand(command))

    def wrap_resolver(resolver: Any) -> Any:
        return EngineFirstResolver(resolver, target())

    def debugger_graph(command: Optional[str] = None, symbol_path: Optional[str] = None) -> Any:
        def resolver() -> Any:
            from toolkit.symbols.resolver import Resolver
            return wrap_resolver(Resolver.from_symbol_path(symbol_path))
        return session_wait_graph(debugger_command, kernel, target, command, resolver)

    return {"target_factory": target, "echo": echo, "symbolizer": symbolizer,
            "wrap_resolver": wrap_resolver, "debugger_command": debugger_command,
            "debugger_graph": debugger_graph, "kernel": kernel, "in_debugger": True}


KERNEL_WAIT_COMMAND = "!process 0 7"


def session_wait_graph(debugger_command: Callable[[str], str], kernel: bool,
                       target: Callable[[], Any], command: Optional[str] = None,
                       resolver: Optional[Callable[[], Any]] = None) -> Any:
    """The wait graph of the live session: in kd (or with an explicit command) the transcript
    builder over ``dbgCommand(command)`` — ``!process 0 7`` by default, so the debugger/debuggee
    case is found live; in user mode the dump builder over the current target."""
    from toolkit.model.errors import UnsupportedTarget
    if kernel or command:
        from toolkit.waitgraph.builders.transcript import build_from_text
        text = command or KERNEL_WAIT_COMMAND
        return build_from_text(debugger_command(text), f"dbgCommand({text})")
    try:
        from toolkit.waitgraph.builders.minidump import build_from_target
    except ImportError:
        raise UnsupportedTarget("the user-mode wait-graph builder is not installed; pass "
                                "--command \"~*kv\" to read the debugger's stacks") from None
    return build_from_target(target(), "<debugger>", resolver() if resolver else None)


def run(argv: Optional[Sequence[str]] = None, pykd: Any = None,
        errors: Optional[Any] = None) -> int:
    """Run one dumpkit command inside the debugger; returns the exit code (never exits).

    Error and warning lines (click's stderr) go through ``dprintln`` too, unless ``errors``
    (a text stream) is given to keep them apart."""
    if pykd is None:
        import pykd  # type: ignore[no-redef]
    from commands.cli import cli

    args: List[str] = list(sys.argv[1:] if argv is None else argv)
    # JSON stays plain text (a reader parses it); everything else is DML inside WinDbg.
    dml = bool(pykd.isWindbgExt()) and not {"--json", "--jsonl"} & set(args)
    out = DprintStream(pykd, dml)
    err = errors if errors is not None else DprintStream(pykd, False)
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            cli.main(args=args, prog_name="dumpkit", obj=context_object(pykd),
                     standalone_mode=True)
        except SystemExit as exc:     # click exits; a debugger session must not
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            out.flush()
            err.flush()
    return code


def main() -> None:
    run()


__all__ = ["in_windbg", "run", "main", "dml_line", "DprintStream", "EngineFirstSymbolizer",
           "EngineFirstResolver", "context_object"]
