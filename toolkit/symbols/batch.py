"""Symbolize many addresses at once: numpy arrays all the way, SymCache only for inline chains.

A trace holds millions of addresses over a few dozen modules. Per address, symbolic's
``SymCache.lookup`` costs ~20 µs from Python; here the work per address is two
``searchsorted`` calls (module by base, then range by start inside the module's function table)
and a few fancy-indexing gathers, so the per-address cost is tens of nanoseconds. Only when
inline frames are asked for does a ``Location`` go back to the SymCache, one address at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, List, Optional, Sequence

import numpy as np

from toolkit.symbols.location import Location
from toolkit.symbols.module_index import ModuleIndex
from toolkit.symbols.resolver import ModuleSymbols, Resolver


@dataclass(frozen=True)
class BatchResult:
    """Parallel arrays, one entry per input address.

    ``module`` indexes ``index.modules`` (-1: no module); ``function`` indexes that module's
    ``FunctionTable`` (-1: no symbol); ``displacement`` counts from the function entry, or from
    the module base when there is no symbol. ``symbols[m]`` is what was loaded for module m.
    """

    addresses: np.ndarray        # uint64
    module: np.ndarray           # int64
    function: np.ndarray         # int64
    range: np.ndarray            # int64, index into the module's table ranges (-1: none)
    displacement: np.ndarray     # uint64
    index: ModuleIndex
    symbols: Sequence[Optional[ModuleSymbols]]

    def __len__(self) -> int:
        return len(self.addresses)

    def names(self) -> np.ndarray:
        """Function name per address (object array; None where there is no symbol)."""
        out = np.full(len(self.addresses), None, dtype=object)
        for m, syms in enumerate(self.symbols):
            if syms is None or syms.table is None:
                continue
            sel = (self.module == m) & (self.function >= 0)
            if sel.any():
                names = np.asarray(syms.table.func_names, dtype=object)
                out[sel] = names[self.function[sel]]
        return out

    def lines(self) -> np.ndarray:
        """Line of the outermost frame per address (0 = unknown)."""
        out = np.zeros(len(self.addresses), dtype=np.uint32)
        for m, syms in enumerate(self.symbols):
            if syms is None or syms.table is None:
                continue
            sel = (self.module == m) & (self.range >= 0)
            if sel.any():
                out[sel] = syms.table.range_line[self.range[sel]]
        return out

    def files(self) -> np.ndarray:
        """Source file of the outermost frame per address (object array; None = unknown)."""
        out = np.full(len(self.addresses), None, dtype=object)
        for m, syms in enumerate(self.symbols):
            if syms is None or syms.table is None:
                continue
            sel = (self.module == m) & (self.range >= 0)
            if sel.any():
                paths = np.asarray(syms.table.file_paths + (None,), dtype=object)
                out[sel] = paths[syms.table.range_file[self.range[sel]]]   # -1 -> None
        return out

    def location(self, i: int, resolver: Resolver, *, lines: bool = True,
                 inlines: bool = False) -> Location:
        """The ``Location`` of address i, built from the arrays (or the SymCache for inlines)."""
        address, m = int(self.addresses[i]), int(self.module[i])
        if m < 0:
            return Location(address, reason="no module contains the address")
        module = self.index.modules[m]
        syms = self.symbols[m]
        if inlines or syms is None or syms.table is None:
            return resolver.lookup(module, address, lines=lines, inlines=inlines)
        f, r = int(self.function[i]), int(self.range[i])
        table = syms.table
        file = line = None
        if lines and r >= 0 and f >= 0:
            line = int(table.range_line[r]) or None
            fi = int(table.range_file[r])
            file = table.file_paths[fi] if fi >= 0 else None
        return Location(address, module.name, module.base,
                        table.func_names[f] if f >= 0 else None, int(self.displacement[i]),
                        file, line, None, (), syms.status, syms.reason)

    def locations(self, resolver: Resolver, *, lines: bool = True,
                  inlines: bool = False) -> Iterator[Location]:
        for i in range(len(self.addresses)):
            yield self.location(i, resolver, lines=lines, inlines=inlines)


def symbolize_batch(resolver: Resolver, index: ModuleIndex, addresses: np.ndarray) -> BatchResult:
    """Resolve every address to (module, function, displacement) with array operations.

    Symbols are loaded only for modules some address falls in; the loop is over modules, never
    over addresses.
    """
    addrs = np.asarray(addresses, dtype=np.uint64)
    module = index.find_many(addrs)
    function = np.full(len(addrs), -1, dtype=np.int64)
    ranges = np.full(len(addrs), -1, dtype=np.int64)
    bases = np.where(module >= 0, index.bases[np.maximum(module, 0)] if len(index) else 0, 0)
    displacement = addrs - bases.astype(np.uint64)
    symbols: List[Optional[ModuleSymbols]] = [None] * len(index)
    for m in np.unique(module[module >= 0]).tolist():
        syms = resolver.symbols_for(index.modules[m])
        symbols[m] = syms
        if syms.table is None or syms.table.function_count == 0:
            continue
        sel = np.nonzero(module == m)[0]
        rva = displacement[sel].astype(np.int64)
        func, rng = syms.table.lookup(rva)
        function[sel] = func
        ranges[sel] = rng
        has = func >= 0
        entry = syms.table.func_entry[np.maximum(func, 0)].astype(np.int64) if len(func) else rva
        displacement[sel] = np.where(has, rva - entry, rva).astype(np.uint64)
    return BatchResult(addrs, module, function, ranges, displacement, index, symbols)


__all__ = ["BatchResult", "symbolize_batch"]
