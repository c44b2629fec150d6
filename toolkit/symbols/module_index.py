"""Address -> module, for one address (bisect) or a million (numpy searchsorted).

Modules are sorted by base once; an address belongs to the module with the greatest base not
above it, if it lies below that module's end. Overlapping modules (a broken dump or a trace that
recorded a reload without an unload) keep the later-listed one out rather than guessing. A
module outside the 64-bit address space (base + size past 2**64, negative numbers) is left out
too and listed in ``dropped``: uint64 arrays cannot hold it and it names no real code.
"""

from __future__ import annotations

import bisect
import functools
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from toolkit.model.target import Module, fits_address_space


class ModuleIndex:
    """Modules sorted by base; ``find`` for one address, ``find_many`` for an array."""

    def __init__(self, modules: Sequence[Module]) -> None:
        ordered: List[Module] = []
        self.dropped: List[Module] = [m for m in modules if not m.fits_address_space]
        usable = [m for m in modules if fits_address_space(m.base, m.size)]
        for module in sorted(usable, key=lambda m: (m.base, -m.size)):
            if ordered and module.base < ordered[-1].end:
                continue                              # overlaps its predecessor: ignored
            ordered.append(module)
        self.modules: List[Module] = ordered
        self._bases = [m.base for m in ordered]
        self._ends = [m.end for m in ordered]
        self._last: Optional[Tuple[int, int, Module]] = None
        self._names: Optional[Dict[str, Module]] = None     # built on the first by_name

    @functools.cached_property
    def bases(self) -> np.ndarray:
        """Module bases as uint64 (made on first use: one-address lookups never need them)."""
        return np.array(self._bases, dtype=np.uint64)

    @functools.cached_property
    def ends(self) -> np.ndarray:
        return np.array(self._ends, dtype=np.uint64)

    def __len__(self) -> int:
        return len(self.modules)

    def find(self, address: int) -> Optional[Module]:
        last = self._last
        if last is not None and last[0] <= address < last[1]:
            return last[2]               # a walk asks about the same module many times in a row
        i = bisect.bisect_right(self._bases, address) - 1
        if i >= 0 and address < self._ends[i]:
            self._last = (self._bases[i], self._ends[i], self.modules[i])
            return self.modules[i]
        return None

    def find_many(self, addresses: np.ndarray) -> np.ndarray:
        """Index into ``self.modules`` for each address, -1 where no module contains it."""
        addrs = np.asarray(addresses, dtype=np.uint64)
        idx = np.searchsorted(self.bases, addrs, side="right").astype(np.int64) - 1
        if not len(self.modules):
            return np.full(addrs.shape, -1, dtype=np.int64)
        safe = np.maximum(idx, 0)
        inside = (idx >= 0) & (addrs < self.ends[safe])
        return np.where(inside, idx, -1)

    def by_name(self, name: str) -> Optional[Module]:
        """The module named ``name`` (file name, case-insensitive, extension optional)."""
        if self._names is None:      # asked once per input line: a dict, not a scan
            names: Dict[str, Module] = {}
            for module in self.modules:
                file_name = module.name.lower()
                names.setdefault(file_name, module)
                names.setdefault(file_name.rsplit(".", 1)[0], module)
            self._names = names
        return self._names.get(name.lower())


__all__ = ["ModuleIndex"]
