"""WinDbg-style thread selectors shared by the commands that take a thread (``stack``, ``exchain``).

``~N`` is the Nth thread of the dump (WinDbg's ``~Nk``), ``~*`` every thread, anything else a
thread id in decimal or 0x hex. Errors are click usage errors (exit 2, one line).
"""

from __future__ import annotations

import re
from typing import List, Optional, Sequence

import click

THREAD_INDEX = re.compile(r"~(\d+|\*)")


def selected_tids(tids_in_dump: Sequence[int], specs: Sequence[str]) -> Optional[List[int]]:
    """Thread ids for WinDbg-style selectors: ``~N`` (the Nth thread of the dump, as ``~Nk``),
    ``~*`` (all: None), or a thread id in decimal or 0x hex."""
    chosen: List[int] = []
    for spec in specs:
        index = THREAD_INDEX.fullmatch(spec)
        if index is not None and index.group(1) == "*":
            return None
        if index is not None:
            n = int(index.group(1))
            if n >= len(tids_in_dump):
                raise click.BadParameter(f"no thread {spec}: the dump has {len(tids_in_dump)}"
                                         f" threads (~0 to ~{len(tids_in_dump) - 1})",
                                         param_hint="THREAD")
            chosen.append(tids_in_dump[n])
            continue
        try:
            tid = int(spec, 0)
        except ValueError:
            raise click.BadParameter(f"not a thread id or ~N index: {spec}",
                                     param_hint="THREAD") from None
        if tid not in tids_in_dump:
            raise click.BadParameter(f"no thread {spec} in the dump", param_hint="THREAD")
        chosen.append(tid)
    return chosen


__all__ = ["THREAD_INDEX", "selected_tids"]
