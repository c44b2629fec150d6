"""``dumpkit exchain DUMP``: the x86 SEH chain like WinDbg's ``!exchain``, every record judged.

Each line is ``record: module!handler+0xoff (handler)`` followed by the verdict (valid /
unverifiable / INVALID) and the failing rule ids; CRT scope entries are indented under
_except_handler3/4 frames. The policy applied is printed with the result.
"""

from __future__ import annotations

import sys
from typing import List, Optional

import click

from commands.common import json_option, load_target
from commands.output import echo, emit_json
from commands.thread_select import THREAD_INDEX, selected_tids
from toolkit.seh import POLICIES, exchain as run_exchain
from toolkit.seh.model import ChainVerdict, ExchainReport, Outcome, RecordVerdict

NAME_WIDTH = 48


def _tid(value: Optional[str]) -> Optional[int]:
    if value is None or THREAD_INDEX.fullmatch(value):
        return None                    # ~N / ~*: resolved against the dump's threads
    try:
        return int(value, 0)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a thread id (decimal or 0x hex) or ~N "
                                 f"index") from None


@click.command()
@click.argument("dump", required=False, type=click.Path(dir_okay=False))
@click.option("--policy", type=click.Choice(sorted(POLICIES)), default=None,
              help="Which Windows version's checks to apply; default: the dump's OS version's"
                   " (5.x: 2003, 6.0-6.3: vista, 10+: win10).")
@click.option("--all-threads", is_flag=True, help="Every thread, not just the exception thread.")
@click.option("--thread", "thread", default=None, metavar="TID",
              help="One thread id (0x hex or decimal) or ~N index (WinDbg's; ~* for all).")
@click.option("--heuristic", is_flag=True,
              help="Without TEB memory, search the stack for a plausible chain (labeled).")
@click.option("--symbol-path", "-y", "symbol_path", default=None,
              help="Symbol path for handler names (default: _NT_SYMBOL_PATH).")
@json_option
@click.pass_context
def exchain(ctx: click.Context, dump: Optional[str], policy: Optional[str], all_threads: bool,
            thread: Optional[str], heuristic: bool, symbol_path: Optional[str],
            as_json: bool) -> None:
    """The SEH chain of DUMP's exception thread (or others), judged record by record."""
    tid = _tid(thread)
    if all_threads and thread is not None:
        raise click.UsageError("--all-threads and --thread exclude each other")
    target = load_target(ctx, dump)
    if thread is not None and THREAD_INDEX.fullmatch(thread):
        picked = selected_tids([t.tid for t in target.threads()], [thread])
        if picked is None:
            all_threads = True
        else:
            tid = picked[0]
    from commands.common import symbol_resolver
    resolver = symbol_resolver(ctx, symbol_path)
    report = run_exchain(target, policy=policy, thread_ids=[tid] if tid is not None else None,
                         all_threads=all_threads, heuristic=heuristic, resolver=resolver)
    from commands.symbol_notes import emit_symbol_note, with_symbols

    if as_json:
        emit_json("exchain", with_symbols(ctx, report.to_json(), [resolver]))
    else:
        for line in render_text(report):
            echo(line)
        emit_symbol_note(ctx, [resolver])
    if not any(c.applicable for c in report.chains):
        sys.exit(1)        # nothing to analyse: no x86 / WOW64 thread at all


def render_text(report: ExchainReport) -> List[str]:
    """Heuristic results label every line, the report's own lines included."""
    tag = "[heuristic] " if any(c.heuristic for c in report.chains) else ""
    basis = ", from the dump's OS version" if report.policy_source == "os_version" else ""
    lines = [f"{tag}Policy: {report.policy}{basis} ({report.policy_description})"]
    for chain in report.chains:
        lines += [tag.rstrip()] + render_chain(chain)
    lines += [f"{tag}{p.code}: {p.message}" for p in report.problems]
    return lines


def render_chain(chain: ChainVerdict) -> List[str]:
    tag = "[heuristic] " if chain.heuristic else ""
    tid = f"{chain.thread_id:#x}" if chain.thread_id is not None else "?"
    if chain.source in ("teb", "wow64_teb"):
        which = "TEB32" if chain.source == "wow64_teb" else "TEB"
        head = (f"Thread {tid}: {which} {chain.tib_address:08x}  ExceptionList {chain.head:08x}"
                f"  StackBase {chain.stack_base:08x}  StackLimit {chain.stack_limit:08x}")
    elif chain.heuristic:
        head = f"{tag}Thread {tid}: chain head unknown; chain found by searching the stack"
    else:
        return [f"Thread {tid}: {chain.note}"]
    lines = [head]
    if chain.heuristic and chain.note:
        lines.append(f"{tag}{chain.note}")
    for record in chain.records:
        lines += [tag + line for line in render_record(record)]
    end = {"end": "end of chain (Next = ffffffff)", "loop": "LOOP: a record is revisited",
           "unreadable": "the next record is not in the dump", "cap": "walk capped",
           "empty": "empty chain (ExceptionList = ffffffff)"}.get(chain.termination,
                                                                  chain.termination)
    lines.append(f"{tag}{end}")
    for v in chain.chain_rules:
        lines.append(f"{tag}{v.rule}: {v.outcome.value} - {v.reason}")
    if chain.failing:
        verdict = "INVALID: " + " ".join(chain.failing)
    elif not chain.checked:
        verdict = ("nothing checked: every applied rule is unverifiable from the dump"
                   + (" or holds by how the stack search chose the records"
                      if chain.heuristic else ""))
    else:
        verdict = "no rule fails"
    lines.append(f"{tag}chain verdict ({len(chain.records)} records): {verdict}")
    return lines


def render_record(r: RecordVerdict) -> List[str]:
    if r.handler is None:
        where = "<record not in the dump>"
    else:
        where = f"{r.handler_name} ({r.handler:08x})" if r.handler_name else f"{r.handler:08x}"
    if r.status == "invalid":
        verdict = "INVALID " + " ".join(r.failing)
    elif r.status == "unverifiable":
        verdict = "unverifiable (" + " ".join(r.unverifiable) + ")"
    else:
        verdict = "valid"
    out = [f"{r.address:08x}: {where:<{NAME_WIDTH}} {verdict}"]
    for v in r.rules:
        if v.outcome is Outcome.FAIL:
            out.append(f"    ! {v.rule} ({v.basis}): {v.reason}")
    for note in r.observations:
        out.append(f"    note: {_OBSERVATIONS.get(note, note)}")
    if r.scope is not None:
        out += _scope_lines(r)
    return out


_OBSERVATIONS = {
    "next-short-jump": "Next decodes as 'jmp short' (EB xx): looks like an overwritten record",
    "handler-pop-pop-ret": "Handler is a pop/pop/ret sequence: a classic SEH-overwrite target",
}


def _scope_lines(r: RecordVerdict) -> List[str]:
    s = r.scope
    assert s is not None
    out = []
    for e in s.entries:
        filt = "" if e.filter is None else \
            f"{e.filter_name or ''} ({e.filter:08x})".strip()
        out.append(f"  CRT scope {e.level:2d}, " + (f"filter: {filt}" if e.filter is not None
                                                     else "__finally"))
        out.append(f"{'':16}func:   {e.handler_name or ''} ({e.handler:08x})".rstrip())
    if s.note:
        out.append(f"  CRT frame ({s.kind}): {s.note}")
    return out
