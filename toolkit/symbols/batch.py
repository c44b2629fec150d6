"""Symbolize many addresses at once: numpy arrays all the way, SymCache only for inline chains.

A trace holds millions of addresses over a few dozen modules. Per address, symbolic's
``SymCache.lookup`` costs microseconds from Python. Here the function tables of every module
are merged into one sorted array of absolute range starts (module base + RVA, with a "no module"
entry at each module's end; modules whose symbols are not loaded yet have just those two), and a
``BucketIndex`` over it answers a whole batch with a shift, a gather and a correction step
(numpy's searchsorted was three quarters of a batch; see bucket_index.py), then a few gathers.
Only when inline frames are asked for does a ``Location`` go back to the SymCache, one address
at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence

import numpy as np

from toolkit.symbols.bucket_index import BucketIndex
from toolkit.symbols.location import Location, SymbolStatus
from toolkit.symbols.module_index import ModuleIndex
from toolkit.symbols.resolver import PUBLIC_REASON, ModuleSymbols, Resolver


@dataclass(frozen=True)
class MergedTable:
    """The function tables of several modules in one absolute address space.

    Entry j covers ``[starts[j], starts[j+1])``: ``module[j]`` (-1: outside every module),
    ``function[j]`` (index into ``names``, -1: no symbol), ``anchor[j]`` (the address the
    displacement counts from: function entry, else module base, else 0), ``line[j]``,
    ``file[j]`` (index into ``files``, -1: none). Entry 0 starts at address 0, so every address
    has an entry. ``names`` and ``files`` end with a ``None`` so gathering index -1 yields None.
    """

    starts: np.ndarray       # uint64
    module: np.ndarray       # int64
    function: np.ndarray     # int64
    line: np.ndarray         # uint32
    file: np.ndarray         # int64
    public: np.ndarray       # bool: answered from the PDB's records (SymbolStatus.PUBLIC)
    anchor: np.ndarray       # uint64
    names: np.ndarray        # object
    files: np.ndarray        # object
    search: BucketIndex

    def find(self, addresses: np.ndarray) -> np.ndarray:
        """Entry of each address (``searchsorted(starts, a, "right") - 1``, bucketed)."""
        return self.search.find(addresses)

    @classmethod
    def build(cls, index: ModuleIndex, symbols: Sequence[Optional[ModuleSymbols]]) -> "MergedTable":
        keys = ("starts", "module", "function", "anchor", "line", "file", "public")
        parts: Dict[str, List[np.ndarray]] = {k: [] for k in keys}
        names: List[str] = []
        files: List[str] = []

        def add(starts, module, function, anchor, line, file, public=False) -> None:
            n = len(starts)
            for key, value in zip(keys, (starts, module, function, anchor, line, file, public)):
                parts[key].append(np.broadcast_to(np.asarray(value), (n,)))

        add([0], -1, -1, 0, 0, -1)
        # Every module's end and base entries at once (a trace may list 300k modules); the
        # loop below visits only modules whose function table is loaded. Ends come first so
        # that where one module ends at the next one's base, the stable sort keeps the base.
        count = len(index.modules)
        if count:
            add(index.ends, -1, -1, 0, 0, -1)
            add(index.bases, np.arange(count), -1, index.bases, 0, -1)
        for m, module in enumerate(index.modules):
            syms = symbols[m]
            table = syms.table if syms is not None else None
            if table is not None and table.function_count:
                keep = table.range_starts < module.size
                rf = table.range_func[keep].astype(np.int64)
                rfile = table.range_file[keep].astype(np.int64)
                entry = table.func_entry.astype(np.uint64)[np.maximum(rf, 0)]
                add(table.range_starts[keep].astype(np.uint64) + np.uint64(module.base), m,
                    np.where(rf >= 0, rf + len(names), -1),
                    np.where(rf >= 0, entry, 0).astype(np.uint64) + np.uint64(module.base),
                    table.range_line[keep], np.where(rfile >= 0, rfile + len(files), -1),
                    table.range_public[keep] if table.range_public is not None else False)
                names.extend(table.func_names)
                files.extend(table.file_paths)
        cat = {k: np.concatenate(v) for k, v in parts.items()}
        order = np.argsort(cat["starts"].astype(np.uint64), kind="stable")  # bases/ends stay put
        dtypes = dict(starts=np.uint64, module=np.int64, function=np.int64, anchor=np.uint64,
                      line=np.uint32, file=np.int64, public=bool)
        cols = {k: np.ascontiguousarray(cat[k][order], dtype=dtypes[k]) for k in keys}
        return cls(**cols, names=np.array(names + [None], dtype=object),
                   files=np.array(files + [None], dtype=object),
                   search=BucketIndex(cols["starts"]))


@dataclass(frozen=True)
class BatchResult:
    """Parallel arrays, one entry per input address.

    ``module`` indexes ``index.modules`` (-1: no module); ``function`` indexes ``table.names``
    (-1: no symbol); ``displacement`` counts from the function entry, or from the module base
    when there is no symbol. ``symbols[m]`` is what was loaded for module m.
    """

    addresses: np.ndarray        # uint64
    module: np.ndarray           # int64
    function: np.ndarray         # int64
    range: np.ndarray            # int64, entry of the merged table
    displacement: np.ndarray     # uint64
    index: ModuleIndex
    symbols: Sequence[Optional[ModuleSymbols]]
    table: MergedTable

    def __len__(self) -> int:
        return len(self.addresses)

    def names(self) -> np.ndarray:
        """Function name per address (object array; None where there is no symbol)."""
        return self.table.names[self.function]

    def lines(self) -> np.ndarray:
        """Line of the outermost frame per address (0 = unknown)."""
        return self.table.line[self.range]

    def files(self) -> np.ndarray:
        """Source file of the outermost frame per address (object array; None = unknown)."""
        return self.table.files[self.table.file[self.range]]

    def location(self, i: int, resolver: Resolver, *, lines: bool = True,
                 inlines: bool = False) -> Location:
        """The ``Location`` of address i, built from the arrays (or the SymCache for inlines)."""
        address, m = int(self.addresses[i]), int(self.module[i])
        if m < 0:
            return Location(address, reason="no module contains the address")
        module = self.index.modules[m]
        syms = self.symbols[m]
        # A resolver that answers per address (the debugger engine first) is asked for each.
        if inlines or syms is None or syms.table is None \
                or getattr(resolver, "answers_per_address", False):
            return resolver.lookup(module, address, lines=lines, inlines=inlines)
        f, r = int(self.function[i]), int(self.range[i])
        file = line = None
        if lines and f >= 0:
            line = int(self.table.line[r]) or None
            file = self.table.files[int(self.table.file[r])]
        status, reason = syms.status, syms.reason
        if f >= 0 and self.table.public[r]:
            status, reason = SymbolStatus.PUBLIC, PUBLIC_REASON
        return Location(address, module.name, module.base, self.table.names[f] if f >= 0 else None,
                        int(self.displacement[i]), file, line, None, (), status, reason)

    def locations(self, resolver: Resolver, *, lines: bool = True,
                  inlines: bool = False) -> Iterator[Location]:
        for i in range(len(self.addresses)):
            yield self.location(i, resolver, lines=lines, inlines=inlines)


class BatchSymbolizer:
    """Keeps the merged table between batches; rebuilds it only when new modules get loaded."""

    def __init__(self, resolver: Resolver, index: ModuleIndex) -> None:
        self.resolver = resolver
        self.index = index
        self.symbols: List[Optional[ModuleSymbols]] = [None] * len(index)
        self._table: Optional[MergedTable] = None
        self._loaded = 0
        self._complete = False

    def __call__(self, addresses: np.ndarray) -> BatchResult:
        addrs = np.asarray(addresses, dtype=np.uint64)
        if self._table is None:
            self._table = MergedTable.build(self.index, self.symbols)
        r = self._table.find(addrs)
        if not self._complete and self._load_touched(self._table.module[r]):
            self._table = MergedTable.build(self.index, self.symbols)
            r = self._table.find(addrs)
        t = self._table
        module = t.module[r]
        function = t.function[r]
        displacement = addrs - t.anchor[r]
        return BatchResult(addrs, module, function, r, displacement, self.index,
                           list(self.symbols), t)

    def _load_touched(self, module: np.ndarray) -> bool:
        """Load symbols for the not-yet-loaded modules some address fell in; True if any."""
        # Work per touched module, not per module of the table (a trace may list 300k).
        touched = np.flatnonzero(np.bincount(module + 1, minlength=len(self.symbols) + 1)[1:])
        wanted = [m for m in touched.tolist() if self.symbols[m] is None]
        if not wanted:
            self._complete = self._loaded == len(self.symbols)
            return False
        prefetch = getattr(self.resolver, "prefetch", None)
        if prefetch is not None and len(wanted) > 1:   # many modules: download in parallel
            prefetch([self.index.modules[m] for m in wanted])
        for m in wanted:
            self.symbols[m] = self.resolver.symbols_for(self.index.modules[m])
        self._loaded += len(wanted)
        self._complete = self._loaded == len(self.symbols)
        return True


def symbolize_batch(resolver: Resolver, index: ModuleIndex, addresses: np.ndarray) -> BatchResult:
    """Resolve every address to (module, function, displacement) with array operations.

    Symbols are loaded only for modules some address falls in; the loop is over modules, never
    over addresses. Reuse a ``BatchSymbolizer`` to keep the merged table across calls.
    """
    return BatchSymbolizer(resolver, index)(addresses)


__all__ = ["BatchResult", "BatchSymbolizer", "MergedTable", "symbolize_batch"]
