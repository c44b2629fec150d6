"""Names for handler addresses: ``module!symbol+0xoff`` with symbols, else ``module+0xoff``.

Symbols come from the symbols resolver (PDB / .sym / the image's exports on the symbol path);
without one, or when ``symbolic`` is unavailable, names degrade to module offsets. C++ argument
lists are dropped from the display name (``seh_h1(_EXCEPTION_RECORD*, ...)`` -> ``seh_h1``), as
WinDbg's ``!exchain`` prints them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional

from toolkit.model.errors import DumpkitError
from toolkit.symbols.location import module_label
from toolkit.model.target import Module


@dataclass(frozen=True)
class HandlerName:
    text: Optional[str]               # None outside every module
    module: Optional[Module]
    symbol: Optional[str]             # the symbol without its argument list
    symbols_known: bool               # the module's symbols were found


class Namer:
    """Names addresses of one target, caching per address."""

    def __init__(self, target: Any, resolver: Any = None) -> None:
        self.target = target
        self.resolver = resolver
        self._cache: Dict[int, HandlerName] = {}

    def __call__(self, address: int) -> Optional[str]:
        return self.name(address).text

    def name(self, address: int) -> HandlerName:
        found = self._cache.get(address)
        if found is None:
            found = self._name(address)
            self._cache[address] = found
        return found

    def _name(self, address: int) -> HandlerName:
        module = self.target.module_at(address)
        if module is None:
            return HandlerName(None, None, None, False)
        label = module_label(module.name)
        offset = address - module.base
        if self.resolver is not None:
            try:
                loc = self.resolver.lookup(module, address, lines=False)
            except DumpkitError:
                loc = None
            if loc is not None and loc.symbol:
                symbol = loc.symbol.split("(")[0]
                return HandlerName(f"{label}!{symbol}+{loc.displacement:#x}", module, symbol, True)
            known = loc is not None and loc.status.value != "missing"
            return HandlerName(f"{label}+{offset:#x}", module, None, known)
        return HandlerName(f"{label}+{offset:#x}", module, None, False)


__all__ = ["HandlerName", "Namer"]
