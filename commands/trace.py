"""``dumpkit trace``: write and inspect dumpkit trace files (docs/trace-format.md).

``trace capture --out T.trace PE... [--base NAME=0x...] [--events FILE]`` stores what a tracer
records at module load (base, size, TimeDateStamp, SizeOfImage and the MODLOAD_DATA debug blob)
plus optional events, one per line of FILE: ``[tid=N] [time=N] ADDR [ADDR...]`` (hex addresses,
absolute or ``module+0xoff``). ``trace show T.trace`` lists the module table and event count.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import click

from commands.common import json_option
from commands.output import emit_json, write
from toolkit.model.errors import InputError


@click.group()
def trace() -> None:
    """Capture and inspect trace files (module table + address events)."""


@trace.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True))
@click.option("--out", "-o", "out", required=True, type=click.Path(dir_okay=False),
              help="Trace file to write.")
@click.option("--base", "bases", multiple=True, metavar="NAME=0xADDR",
              help="Load address for an image (default: its preferred ImageBase).")
@click.option("--events", "events_file", type=click.Path(dir_okay=False, exists=True),
              help="Events, one per line: [tid=N] [time=N] ADDR [ADDR...].")
def capture(images: Sequence[str], out: str, bases: Sequence[str],
            events_file: Optional[str]) -> None:
    """Write a trace whose module table describes IMAGES."""
    from toolkit.targets.trace import TraceEvents, capture_module, write_trace

    wanted = _parse_bases(bases)
    modules, machines = [], set()
    for image in images:
        path = Path(image)
        module, machine = capture_module(path, wanted.pop(path.name.lower(), None))
        modules.append(module)
        machines.add(machine)
    if wanted:
        raise click.UsageError(f"--base names no given image: {', '.join(sorted(wanted))}")
    machine = machines.pop() if len(machines) == 1 else "IMAGE_FILE_MACHINE_UNKNOWN"
    pointer_size = 4 if machine in ("IMAGE_FILE_MACHINE_I386", "IMAGE_FILE_MACHINE_ARMNT") else 8
    events: Optional[TraceEvents] = None
    if events_file:
        events = _read_events(Path(events_file), {m.name.lower(): m.base for m in modules})
    write_trace(Path(out), modules, events, machine=machine, pointer_size=pointer_size)
    write(f"wrote {out}: {len(modules)} modules, {len(events) if events else 0} events")


@trace.command()
@click.argument("trace_file", type=click.Path(dir_okay=False, exists=True))
@json_option
def show(trace_file: str, as_json: bool) -> None:
    """The module table (like ``lm``) and the event count of TRACE_FILE."""
    from toolkit.targets.trace import read_trace

    t = read_trace(Path(trace_file))
    ptr = t.pointer_size
    modules = [m.to_module() for m in t.modules]
    if as_json:
        emit_json("trace show", {"machine": t.machine, "pointer_size": ptr,
                                 "modules": [m.to_json(ptr) for m in modules],
                                 "events": len(t.events), "addresses": len(t.events.addresses),
                                 "problems": [p.to_json() for p in t.problems]})
        return
    write(f"{t.machine}, {len(t.events)} events, {len(t.events.addresses)} addresses")
    w = ptr * 2
    write(f"{'start':<{w}} {'end':<{w}}   module name")
    for m in modules:
        ident = f"{m.pdb_name} {m.debug_id}" if m.debug_id else "(no CodeView record)"
        write(f"{m.base:0{w}x} {m.end:0{w}x}   {m.name:<20} {ident}")
    for p in t.problems:
        write(f"  {p.code}: {p.message}")


def _parse_bases(bases: Sequence[str]) -> Dict[str, int]:
    out: Dict[str, int] = {}
    for item in bases:
        name, eq, value = item.partition("=")
        try:
            out[name.strip().lower()] = int(value, 16)
        except ValueError:
            eq = ""
        if not eq or not name.strip():
            raise click.UsageError(f"--base wants NAME=0xADDR, not {item!r}")
    return out


def _read_events(path: Path, bases: Dict[str, int]):  # type: ignore[no-untyped-def]
    from toolkit.targets.trace import TraceEvents

    stamps: List[int] = []
    tids: List[int] = []
    addresses: List[List[int]] = []
    with open(path, "r", encoding="utf-8", errors="replace") as fh:
        for number, raw in enumerate(fh, 1):
            words = raw.split("#", 1)[0].split()
            if not words:
                continue
            tid, stamp, addrs = _event_words(words, bases, f"{path}:{number}")
            stamps.append(len(stamps) if stamp is None else stamp)
            tids.append(tid)
            addresses.append(addrs)
    return TraceEvents.from_rows(stamps, tids, addresses)


def _event_words(words: List[str], bases: Dict[str, int],
                 where: str) -> Tuple[int, Optional[int], List[int]]:
    tid, stamp, addrs = 0, None, []
    try:
        for word in words:
            if word.startswith("tid="):
                tid = int(word[4:], 0)
            elif word.startswith("time="):
                stamp = int(word[5:], 0)
            elif "+" in word:
                name, _, off = word.partition("+")
                if name.lower() not in bases:
                    raise InputError(f"{where}: {name} is not one of the captured images")
                addrs.append(bases[name.lower()] + int(off, 16))
            else:
                addrs.append(int(word, 16))
    except ValueError:
        raise InputError(f"{where}: cannot read {' '.join(words)!r} as an event") from None
    if not addrs:
        raise InputError(f"{where}: an event needs at least one address")
    return tid, stamp, addrs


__all__ = ["trace"]
