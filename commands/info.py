"""``dumpkit info DUMP``: the first look at a dump, like vertarget + .exr + ~ + lm in WinDbg."""

from __future__ import annotations

from typing import List, Optional

import click

from commands.common import json_option, load_target
from commands.output import emit_json, write_lines
from toolkit.triage.summary import DumpSummary, summarize, summarize_file


@click.command()
@click.argument("dump", required=False, type=click.Path(dir_okay=False))
@json_option
@click.pass_context
def info(ctx: click.Context, dump: Optional[str], as_json: bool) -> None:
    """System, exception, threads and modules of DUMP."""
    # A dump path: the struct-only reader first (a fraction of the full reader's start-up);
    # None sends the dump, or the debugger's target, through the full reader.
    summary = summarize_file(dump) if dump is not None else None
    if summary is None:
        summary = summarize(load_target(ctx, dump))
    if as_json:
        emit_json("info", summary.to_json())
    else:
        write_lines(render_text(summary))


def render_text(s: DumpSummary) -> List[str]:
    ptr = s.pointer_size
    w = ptr * 2
    lines = ["System (vertarget)", f"  {s.system_line}"]
    if s.process_id is not None:
        lines.append(f"  Process ID: {s.process_id:#x} ({s.process_id})")
    lines += [f"  {p.code}: {p.message}" for p in s.problems]

    lines.append("")
    ex = s.exception
    if ex is None:
        lines.append("Exception (.exr): none recorded")
    else:
        lines += [
            "Exception (.exr)",
            f"  ExceptionAddress: {ex.address:0{w}x}{_where(s, ex.address)}",
            f"     ExceptionCode: {ex.code:08x}{f' ({ex.name})' if ex.name else ''}",
            f"    ExceptionFlags: {ex.flags:08x}",
            f"  NumberParameters: {len(ex.parameters)}",
        ]
        lines += [f"     Parameter[{i}]: {p:0{w}x}" for i, p in enumerate(ex.parameters)]
        if s.exception_detail:
            lines.append(f"  {s.exception_detail}")
        lines.append(f"  Thread: {ex.thread_id:#x}")

    lines += ["", f"Threads (~): {len(s.threads)}"]
    for i, t in enumerate(s.threads):
        mark = "#" if ex is not None and t.tid == ex.thread_id else " "
        teb = f"{t.teb:0{w}x}" if t.teb is not None else "?" * w
        ip = t.registers.ip if t.registers else None
        ip_text = f"{ip:0{w}x}{_where(s, ip)}" if ip is not None else "no context"
        stack = (f"{t.stack_start:0{w}x}-{t.stack_end:0{w}x}" if t.stack_start is not None
                 and t.stack_end is not None else "no stack")
        name = f' "{t.name}"' if t.name else ""
        lines.append(f"{mark}{i:3d}  Id: {s.process_id or 0:x}.{t.tid:x} Teb: {teb}"
                     f"  Stack: {stack}  IP: {ip_text}{name}")

    lines += ["", f"Modules (lm): {len(s.modules)}",
              f"{'start':<{w}} {'end':<{w}}   {'module name':<24} {'timestamp':<8} "
              f"{'code id':<17} {'debug id':<34} pdb / symbols"]
    for m in s.modules:
        debug = str(m.debug_id) if m.debug_id else "-"
        pdb = m.pdb_name or "-"
        lines.append(f"{m.base:0{w}x} {m.end:0{w}x}   {m.name:<24} "
                     f"{m.timestamp if m.timestamp is not None else 0:08x} "
                     f"{m.code_id or '-':<17} {debug:<34} {pdb}  (deferred)")
    if s.unloaded_modules:
        lines += ["", f"Unloaded modules: {len(s.unloaded_modules)}"]
        lines += [f"{u.base:0{w}x} {u.base + u.size:0{w}x}   {u.name}" for u in s.unloaded_modules]
    return lines


def _where(s: DumpSummary, address: Optional[int]) -> str:
    if address is None:
        return ""
    for m in s.modules:
        if m.contains(address):
            return f" ({m.name}+{address - m.base:#x})"
    return ""
