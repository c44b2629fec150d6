"""The text of a batch (``module!function+0xoff [file @ line]``), formatted per table entry.

A million addresses fall into far fewer entries of the merged table (one per function line
range), and everything in a line but the displacement depends on the entry alone. So each
entry's head (``module!function``) and tail (`` [file @ line]`` and the status tag) is formatted
and escaped once, when an address first hits it; a batch's lines are then two gathers, the
displacements from a table of small hex strings, and two element-wise additions of object
arrays, all in C. What the arrays cannot answer (inline chains, a resolver that answers per
address, a module whose symbols exist but have no table) comes back as ``None`` for the caller
to format through ``Location``: the same text, slower.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from toolkit.symbols.batch import BatchResult, MergedTable
from toolkit.symbols.location import module_label
from toolkit.symbols.resolver import ModuleSymbols

STATUS_TAGS = {"export": "  (export symbols)", "mismatched": "  (MISMATCHED symbols)",
               "missing": "  (no symbols)"}
Escape = Callable[[str], str]
_SMALL = 1 << 16
_small_hex: Optional[np.ndarray] = None


def _plus_hex(values: np.ndarray) -> np.ndarray:
    """``+0x…`` for each value, through a table for the common small displacements."""
    global _small_hex
    if _small_hex is None:
        _small_hex = np.array([f"+{i:#x}" for i in range(_SMALL)], dtype=object)
    out = np.empty(len(values), dtype=object)
    small = values < _SMALL
    out[small] = _small_hex[values[small].astype(np.int64)]
    if not small.all():
        out[~small] = [f"+{v:#x}" for v in values[~small].tolist()]
    return out


class EntryTexts:
    """Text pieces per entry of one merged table, filled in as entries are first hit."""

    def __init__(self, table: MergedTable, modules: Sequence[object],
                 symbols: Sequence[Optional[ModuleSymbols]], *, lines: bool,
                 escape: Escape, per_address: bool = False) -> None:
        self.table = table
        self.lines = lines
        self.escape = escape
        n = len(table.starts)
        self.known = np.zeros(n, dtype=bool)
        self.fast = np.zeros(n, dtype=bool)        # formatted from these pieces
        self.nameless = np.zeros(n, dtype=bool)    # no function: the offset is always shown
        self.head = np.full(n, "", dtype=object)
        self.tail = np.full(n, "", dtype=object)   # status tag of the module
        self.tail_loc = np.full(n, "", dtype=object)   # tag as a Location has it (public: none)
        self.modules, self.symbols, self.per_address = modules, symbols, per_address
        # per module, as first hit: (escaped label, tag) when its lines can come from the
        # arrays; None when every address needs its own answer (inlines, the debugger engine)
        self.heads: Dict[int, Optional[Tuple[str, str]]] = {}

    def _head(self, m: int) -> Optional[Tuple[str, str]]:
        if m not in self.heads:
            self.heads[m] = None if self.per_address else \
                self._module_head(getattr(self.modules[m], "name"), self.symbols[m])
        return self.heads[m]

    def _module_head(self, name: str, syms: Optional[ModuleSymbols]) -> Optional[Tuple[str, str]]:
        # A loaded table, or no symbols at all (then the answer is module+offset, from the
        # arrays too); symbols without a table go through the resolver.
        if syms is None or (syms.table is None and syms.symcache is not None):
            return None
        return self.escape(module_label(name)), STATUS_TAGS.get(syms.status.value, "")

    def fill(self, entries: np.ndarray) -> None:
        t, escape = self.table, self.escape
        for j in entries.tolist():
            self.known[j] = True
            m = int(t.module[j])
            head = self._head(m) if m >= 0 else None
            if head is None:
                continue
            label, tag = head
            f = int(t.function[j])
            name = t.names[f] if f >= 0 else None
            where = ""
            if self.lines and f >= 0:
                file, line = t.files[int(t.file[j])], int(t.line[j])
                if file is not None and line:
                    where = f" [{escape(file)} @ {line}]"
            self.fast[j] = True
            self.nameless[j] = name is None
            self.head[j] = label if name is None else label + "!" + escape(name)
            self.tail[j] = where + tag
            self.tail_loc[j] = where + ("" if f >= 0 and t.public[j] else tag)

    def format(self, result: BatchResult, relative: np.ndarray,
               pointer_size: int) -> List[Optional[str]]:
        """One text line per address; ``None`` where the caller must go through Location.
        ``relative`` marks addresses given as module+offset (tagged as their Location is)."""
        r = result.range
        new = r[~self.known[r]]
        if len(new):
            self.fill(np.unique(new))
        disp = result.displacement
        fast = self.fast[r]
        shown = fast & (self.nameless[r] | (disp != 0))
        offsets = np.full(len(r), "", dtype=object)
        offsets[shown] = _plus_hex(disp[shown])
        tails = np.where(relative, self.tail_loc[r], self.tail[r]) if relative.any() \
            else self.tail[r]
        texts: List[Optional[str]] = (self.head[r] + offsets + tails).tolist()
        if not fast.all():
            width = 2 * pointer_size
            for i in np.flatnonzero(~fast).tolist():
                if result.module[i] < 0:
                    texts[i] = f"0x{int(result.addresses[i]):0{width}x}  (no module)"
                else:
                    texts[i] = None
        return texts


__all__ = ["EntryTexts", "STATUS_TAGS"]
