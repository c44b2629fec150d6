"""``dumpkit analyze DUMP``: the one-shot crash report (WinDbg's ``!analyze -v``), its bucket and
Socorro signature; ``--format minidump-stackwalk`` prints rust-minidump's JSON schema instead."""

from __future__ import annotations

import json
from typing import Optional

import click

from commands.common import load_target, symbol_resolver
from commands.output import echo
from toolkit.triage.analyze import Analysis, analyze_target


@click.command("analyze")
@click.argument("dump", required=False, type=click.Path(dir_okay=False))
@click.option("--symbol-path", "-y", default=None,
              help="Symbol path (_NT_SYMBOL_PATH syntax); default: $_NT_SYMBOL_PATH.")
@click.option("--allow-mismatch", is_flag=True,
              help="Use symbol files whose debug id differs (marked mismatched).")
@click.option("--policy", type=click.Choice(["2003", "vista", "win10"]), default=None,
              help="SEH policy for x86 chains; default: from the dump's OS version.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (dumpkit schema).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "minidump-stackwalk"]),
              default="text", show_default=True,
              help="minidump-stackwalk: rust-minidump's `minidump-stackwalk --json` schema.")
@click.pass_context
def analyze(ctx: click.Context, dump: Optional[str], symbol_path: Optional[str],
            allow_mismatch: bool, policy: Optional[str], as_json: bool, fmt: str) -> None:
    """Exception, faulting access and instruction, crashing stack, symbols, SEH, wait chains,
    and the crash's bucket and Socorro signature."""
    target = load_target(ctx, dump)
    resolver = symbol_resolver(ctx, symbol_path, allow_mismatch=allow_mismatch)
    report = analyze_target(target, policy=policy, resolver=resolver)
    if fmt == "minidump-stackwalk":
        click.echo(json.dumps(report.stackwalk, indent=2))
    elif as_json or fmt == "json":
        doc = report.to_json()
        doc = {"schema_version": doc.pop("schema_version"), "command": "analyze", **doc}
        click.echo(json.dumps(doc, indent=2))
    else:
        for line in render_text(report):
            echo(line)


def render_text(a: Analysis) -> list:
    ps = a.pointer_size
    out = [f"{'FAILURE_BUCKET_ID:':<26}{a.bucket}",
           f"{'SOCORRO_SIGNATURE:':<26}{a.socorro_signature}",
           f"{'OS:':<26}{a.os} {a.arch}"]
    ex = a.exception
    if ex is not None:
        out.append(f"{'EXCEPTION_CODE:':<26}{ex.code:08x} ({ex.name or 'unknown'})"
                   + (f" {ex.detail}" if ex.detail else ""))
        out.append(f"{'FAILURE_CLASS:':<26}{a.failure_class}")
    else:
        out.append(f"{'EXCEPTION_CODE:':<26}none (no exception stream)")
    if a.access is not None:
        acc = a.access
        flags = ", ".join(([ "null-pointer class"] if acc.null_class else [])
                          + (["non-canonical"] if acc.non_canonical else []) + acc.flags)
        out.append(f"{'ACCESS:':<26}{acc.access} at {acc.address or 0:#x}"
                   + (f" ({flags})" if flags else "")
                   + (f", {acc.protection}" if acc.protection else ""))
    if a.instruction is not None:
        ins = a.instruction
        out.append(f"{'FAULTING_INSTRUCTION:':<26}{ins.address:0{ps * 2}x} {ins.bytes_hex:<16} "
                   f"{ins.text}")
        for m in ins.memory_accesses:
            where = f"{m.address:#x}" if m.address is not None else "?"
            out.append(f"{'':<26}{m.access} {m.size} bytes at {where} = {m.expression}")
    if a.crashing_module:
        out.append(f"{'MODULE_NAME:':<26}{a.crashing_module}"
                   + (f" {a.crashing_module_version}" if a.crashing_module_version else ""))
    if a.stack is not None:
        out += ["", f"STACK_TEXT (thread {a.stack.tid:#x}):"]
        for frame, loc in zip(a.stack.frames, a.stack.locations):
            site = loc.format(ps) if loc is not None else f"{frame.ip:#x}"
            out.append(f"  {frame.index:02x} {frame.sp:0{ps * 2}x} {frame.trust.value:<13} {site}")
    if a.symbol_status:
        out += ["", "SYMBOLS:"]
        for s in a.symbol_status:
            where = s.source or s.reason or ""
            out.append(f"  {s.module:<24} {s.status:<10} {where}")
    if a.seh is not None:
        out += ["", f"SEH (policy {a.seh_policy}):"]
        for chain in a.seh.chains:
            verdict = ("invalid: " + ", ".join(chain.failing)) if chain.failing else "valid"
            out.append(f"  thread {chain.thread_id or 0:#x}: {len(chain.records)} records "
                       f"(head from {chain.source or 'unknown'}, ends {chain.termination}), "
                       f"{verdict}")
            for r in chain.records:
                out.append(f"    {r.address:08x} handler {r.handler_name or r.handler or '?'}"
                           + (f"  FAIL {', '.join(r.failing)}" if r.failing else ""))
    if a.wait_analysis is not None:
        w = a.wait_analysis
        out += ["", f"WAIT_CHAINS: {len(w.cycles)} deadlock(s), {len(w.chains)} blocked chain(s)"]
        from toolkit.waitgraph.render_text import render_report
        out += ["  " + line for line in render_report(w, evidence=False)]
    for p in a.problems:
        out.append(f"problem: {p.code}: {p.message}")
    return out
