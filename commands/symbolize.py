"""``dumpkit symbolize``: addresses to ``module!function+0xoff [file @ line]``, like WinDbg's ``ln``.

Input: lines on stdin or in INPUT (addresses, ``module+0xoff``, ``module!symbol+0xoff``), or
INPUT is a dumpkit trace (recognised by its magic) and every event is resolved. Module identities
come from ``--dump``, ``--modules`` (JSON), the trace's module table, or — for ``module+0xoff``
lines — the binary of that name on the symbol path.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Set, Tuple

import click

from commands.common import json_option
from commands.output import emit_json_stream, escape_controls, write, write_lines
from toolkit.model.errors import InputError
from toolkit.model.target import Module


@click.command()
@click.argument("input_path", metavar="[INPUT]", required=False,
                type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--dump", "dump", type=click.Path(dir_okay=False), help="Modules from a minidump.")
@click.option("--modules", "modules_file", type=click.Path(dir_okay=False),
              help="Modules from a JSON list of {name, base, size, debug_id, pdb_name, ...}.")
@click.option("--symbol-path", "-y", "symbol_path", default=None,
              help="WinDbg syntax (srv*CACHE*URL;DIR;...); default _NT_SYMBOL_PATH.")
@click.option("--allow-mismatch", is_flag=True, help="Use symbol files whose id differs (marked).")
@click.option("--lines/--no-lines", default=True, help="Source file and line (default on).")
@click.option("--inlines", is_flag=True, help="Also list inlined frames (innermost first).")
@click.option("--jsonl", "as_jsonl", is_flag=True, help="One JSON object per input line, streamed.")
@json_option
@click.pass_context
def symbolize(ctx: click.Context, input_path: Optional[str], dump: Optional[str],
              modules_file: Optional[str],
              symbol_path: Optional[str], allow_mismatch: bool, lines: bool, inlines: bool,
              as_jsonl: bool, as_json: bool) -> None:
    """Resolve addresses (stdin or INPUT) or every event of a trace file INPUT."""
    from commands.common import symbol_resolver
    from toolkit.symbols.symbolize import Symbolizer
    from toolkit.targets.trace import is_trace, read_trace

    modules: List[Module] = []
    trace = None
    if input_path and input_path != "-" and is_trace(Path(input_path)):
        trace = read_trace(Path(input_path))
        modules = [m.to_module() for m in trace.modules]
        _note_dropped(trace.problems)
    if dump:
        from toolkit.targets.open import open_target
        target = open_target(dump)
        modules += target.modules()
        _note_dropped(target.problems)
    if modules_file:
        modules += _modules_json(Path(modules_file))
    if not modules and trace is None and isinstance(ctx.obj, dict) and ctx.obj.get("target_factory"):
        from commands.common import load_target
        modules = load_target(ctx, None).modules()   # inside WinDbg: the debugger's modules
    pointer_size = trace.pointer_size if trace is not None else _pointer_size(modules)
    resolver = symbol_resolver(ctx, symbol_path, allow_mismatch=allow_mismatch)
    engine = Symbolizer(resolver, modules, lines=lines, inlines=inlines)
    if trace is not None:
        _render_trace(engine, trace, pointer_size, as_json, as_jsonl)
    else:
        _render_lines(engine, input_path, pointer_size, as_json, as_jsonl)
    _warn_modules(resolver)


def _modules_json(path: Path) -> List[Module]:
    from toolkit.symbols.symbolize import module_from_json
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:    # JSONDecodeError, bad UTF-8, an int past Python's digit limit
        raise InputError(f"{path} is not JSON: {exc}") from None
    if isinstance(data, dict):
        data = data.get("modules")
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a JSON list of modules (or {{\"modules\": [...]}})")
    return [module_from_json(item) for item in data]


def _pointer_size(modules: Sequence[Module]) -> int:
    return 4 if modules and all(m.end <= 1 << 32 for m in modules) else 8


def _open_lines(input_path: Optional[str]):  # type: ignore[no-untyped-def]
    if not input_path or input_path == "-":
        # Undecodable bytes in piped input become per-line errors, not a UnicodeDecodeError.
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace") \
            if hasattr(sys.stdin, "buffer") else sys.stdin
    return open(input_path, "r", encoding="utf-8", errors="replace")


def _open_binary(input_path: Optional[str]):  # type: ignore[no-untyped-def]
    """The input as bytes for the text view, or None when stdin has no byte layer (then the
    text reader is used, line by line)."""
    if input_path and input_path != "-":
        return open(input_path, "rb")
    return getattr(sys.stdin, "buffer", None)


def _render_lines(engine, input_path: Optional[str], ptr: int, as_json: bool,  # type: ignore[no-untyped-def]
                  as_jsonl: bool) -> None:
    from toolkit.symbols.symbolize import format_result
    out = sys.stdout
    binary = None if as_json or as_jsonl else _open_binary(input_path)
    if binary is not None:
        for text in engine.text_blocks(binary, ptr, escape_controls):   # one write per block
            out.write(text)
        out.flush()
        return
    results = engine.run(_open_lines(input_path))
    if as_json:
        emit_json_stream("symbolize", "results", (r.to_json(ptr) for r in results))
        return
    if not as_jsonl:           # a stdin without a byte layer (an embedding host's)
        for result in results:
            write_lines(format_result(result, ptr).split("\n"))
        return
    batch: List[str] = []
    for result in results:
        batch.append(json.dumps(result.to_json(ptr)))
        if len(batch) >= 4096:      # one write per batch, not a click.echo per line
            out.write("\n".join(batch) + "\n")
            batch = []
    if batch:
        out.write("\n".join(batch) + "\n")
    out.flush()


_SPAN = 65536     # addresses resolved per batch: memory stays flat however long the trace


def _render_trace(engine, trace, ptr: int, as_json: bool, as_jsonl: bool) -> None:  # type: ignore[no-untyped-def]
    events = trace.events
    if as_json:
        from commands.output import PRETTY
        head = {"modules": [m.to_module().to_json(ptr) for m in trace.modules]}
        if PRETTY:                  # the indenting encoder needs the documents themselves
            emit_json_stream("symbolize", "events", _trace_docs(engine, events, ptr), head=head)
        else:
            emit_json_stream("symbolize", "events", _trace_json(engine, events, ptr), head=head,
                             encoded=True)
        return
    out = sys.stdout
    for span in _event_spans(events):
        if as_jsonl:
            out.write("".join(doc + "\n" for doc in _span_json(engine, events, span, ptr)))
        else:
            out.write(_span_text(engine, events, span, ptr))
    out.flush()


def _event_spans(events) -> Iterator[Tuple[int, int, int, int]]:  # type: ignore[no-untyped-def]
    """Runs of whole events [first, last) of about ``_SPAN`` addresses each, with the range
    [start, stop) of their addresses."""
    import numpy as np
    if not len(events):
        return
    ends = np.cumsum(events.counts, dtype=np.int64)
    cuts = np.searchsorted(ends, np.arange(_SPAN, int(ends[-1]), _SPAN), side="left") + 1
    bounds = np.unique(np.concatenate(([0], cuts, [len(events)]))).tolist()
    ends = ends.tolist()
    for first, last in zip(bounds[:-1], bounds[1:]):
        yield first, last, ends[first - 1] if first else 0, ends[last - 1]


def _span_addresses(events, span):  # type: ignore[no-untyped-def]
    first, last, start, stop = span
    return events.addresses[start:stop], events.counts[first:last].astype("int64")


_FRAME_NO = [f"  {n:02x} " for n in range(256)]


def _span_text(engine, events, span, ptr: int) -> str:  # type: ignore[no-untyped-def]
    """Each event's header line, then one line per frame (``  NN module!function+0xoff``),
    from one batch over the span's addresses."""
    import numpy as np
    first, last = span[0], span[1]
    addresses, counts = _span_addresses(events, span)
    texts = np.array(engine.addresses_text(addresses, ptr, escape_controls), dtype=object)
    starts = np.cumsum(counts) - counts
    number = np.arange(len(addresses)) - np.repeat(starts, counts)
    prefix = np.array([_FRAME_NO[n] if n < 256 else f"  {n:02x} " for n in number.tolist()],
                      dtype=object) if len(number) and number.max() >= 256 else \
        np.array(_FRAME_NO, dtype=object)[number]
    out = np.empty(len(counts) + len(addresses), dtype=object)
    header_at = starts + np.arange(len(counts))
    frame = np.ones(len(out), dtype=bool)
    frame[header_at] = False
    out[header_at] = [f"event {i}  thread {tid:#x}  time {stamp}" for i, tid, stamp in
                      zip(range(first, last), events.thread_ids[first:last].tolist(),
                          events.timestamps[first:last].tolist())]
    out[frame] = prefix + texts
    return "\n".join(out.tolist()) + "\n"


def _span_events(engine, events, span, ptr: int, encode):  # type: ignore[no-untyped-def]
    """(event, timestamp, thread id, frames) of each event of the span. A trace repeats its
    return addresses many times over, so each distinct address is resolved and passed
    through ``encode`` once, and events share the results (read-only)."""
    import numpy as np
    first, last = span[0], span[1]
    addresses, counts = _span_addresses(events, span)
    distinct, which = np.unique(addresses, return_inverse=True)
    frames = [encode(f.to_json(ptr)) for f in engine.run_addresses(distinct)]
    picked = [frames[k] for k in which.tolist()]
    stamps = events.timestamps[first:last].tolist()
    tids = events.thread_ids[first:last].tolist()
    at = 0
    for i, count, stamp, tid in zip(range(first, last), counts.tolist(), stamps, tids):
        yield i, stamp, tid, picked[at:at + count]
        at += count


def _span_docs(engine, events, span, ptr: int) -> Iterator[Dict[str, Any]]:  # type: ignore[no-untyped-def]
    for i, stamp, tid, frames in _span_events(engine, events, span, ptr, lambda doc: doc):
        yield {"event": i, "timestamp": stamp, "thread_id": tid, "frames": frames}


def _trace_docs(engine, events, ptr: int) -> Iterator[Dict[str, Any]]:  # type: ignore[no-untyped-def]
    for span in _event_spans(events):
        yield from _span_docs(engine, events, span, ptr)


def _span_json(engine, events, span, ptr: int) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """``json.dumps`` of each of ``_span_docs``' documents, byte for byte, built from each
    distinct frame's JSON text: encoding a million small frame dicts one event at a time
    was two thirds of a trace's --json/--jsonl time."""
    for i, stamp, tid, frames in _span_events(engine, events, span, ptr, json.dumps):
        yield (f'{{"event": {i}, "timestamp": {stamp}, "thread_id": {tid}, '
               f'"frames": [{", ".join(frames)}]}}')


def _trace_json(engine, events, ptr: int) -> Iterator[str]:  # type: ignore[no-untyped-def]
    for span in _event_spans(events):
        yield from _span_json(engine, events, span, ptr)


def _note_dropped(problems) -> None:  # type: ignore[no-untyped-def]
    """One stderr line per module left out of the table because it lies outside the address
    space, so an address that comes out "(no module)" is explained."""
    for problem in problems:
        if problem.code == "module.out_of_range":
            write(f"*** {problem.message}", err=True)


def _warn_modules(resolver) -> None:  # type: ignore[no-untyped-def]
    """WinDbg-style one-line notes on stderr for modules without exact symbols."""
    seen: Set[str] = set()
    for syms in resolver.loaded():
        if syms.status.value == "exact" or syms.module.name in seen:
            continue
        seen.add(syms.module.name)
        write(f"*** {syms.status.value} symbols for {syms.module.name}: "
              f"{syms.reason or 'no reason recorded'}", err=True)


__all__ = ["symbolize"]
