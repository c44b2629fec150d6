"""From input paths to a deadlock report: pick a builder per input, merge, apply the rules.

Inputs are told apart by content, not by name: a file starting with ``MDMP`` is a minidump,
anything else is read as debugger transcript text.
"""

from __future__ import annotations

import importlib
from typing import Any, List, Optional, Sequence

from toolkit.model.errors import InputError, UnsupportedTarget
from toolkit.waitgraph.analysis import DeadlockReport, analyse
from toolkit.waitgraph.builders.transcript import build_from_text
from toolkit.waitgraph.debugger_rule import apply_debugger_rule
from toolkit.waitgraph.merge import merge_graphs
from toolkit.waitgraph.model import WaitGraph

MAX_TRANSCRIPT_BYTES = 512 * 1024 * 1024


def load_graph(path: str, symbol_path: Optional[str] = None, resolver: Any = None) -> WaitGraph:
    """The wait graph of one input file (``symbol_path``, or ``resolver`` when given, names
    symbols for dumps' stacks)."""
    from toolkit.targets.compressed import compression_of
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head[:4] == b"MDMP" or compression_of(head) is not None:   # compressed: a dump
        return _dump_graph(path, symbol_path, resolver)
    with open(path, "rb") as handle:
        data = handle.read(MAX_TRANSCRIPT_BYTES + 1)
    if len(data) > MAX_TRANSCRIPT_BYTES:
        raise InputError(f"{path}: transcript larger than {MAX_TRANSCRIPT_BYTES >> 20} MiB")
    if b"\x00" in data[:4096]:
        raise InputError(f"{path}: neither a minidump nor a text transcript (binary data)")
    return build_from_text(data.decode("utf-8", errors="replace"), path)


def _dump_graph(path: str, symbol_path: Optional[str] = None, resolver: Any = None) -> WaitGraph:
    try:
        opener = importlib.import_module("toolkit.targets.open")
    except ImportError:
        raise UnsupportedTarget(f"{path}: minidump inputs are not supported by deadlock yet "
                                "(the dump reader is not installed); pass transcripts") from None
    from toolkit.symbols.resolver import Resolver
    from toolkit.waitgraph.builders.minidump import build_from_target
    return build_from_target(opener.open_target(path), path,
                             resolver if resolver is not None
                             else Resolver.from_symbol_path(symbol_path))


def report_for_graphs(graphs: Sequence[WaitGraph]) -> DeadlockReport:
    """Merge, apply the debugger/debuggee rule, analyse."""
    return analyse(apply_debugger_rule(merge_graphs(graphs)))


def report_for_paths(paths: Sequence[str], symbol_path: Optional[str] = None, *,
                     resolver: Any = None) -> DeadlockReport:
    """One report over every input; ``resolver`` (one for all dumps) lets the caller tell
    afterwards which modules had symbols."""
    graphs: List[WaitGraph] = [load_graph(p, symbol_path, resolver) for p in paths]
    return report_for_graphs(graphs)


__all__ = ["load_graph", "report_for_graphs", "report_for_paths"]
