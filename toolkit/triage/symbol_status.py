"""Which modules had symbols, a refused id, or none, and where the symbols came from.

One record per module: ``analyze``'s SYMBOLS section and the note that ``stack``, ``scan``,
``exchain`` and ``deadlock`` print (one line per module on stderr, a ``symbols`` array in
JSON) are built here, so every command reports symbol trouble the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple


@dataclass(frozen=True)
class ModuleSymbolStatus:
    """Where the symbols of one module came from, or why there are none."""

    module: str
    debug_id: Optional[str]
    status: str                     # exact | export | mismatched | id_mismatch | missing
    kind: Optional[str]             # pdb | sym | pe
    source: Optional[str]           # the file used
    reason: Optional[str]

    def to_json(self) -> Dict[str, Any]:
        return {"module": self.module, "debug_id": self.debug_id, "status": self.status,
                "kind": self.kind, "source": self.source, "reason": self.reason}

    def summary_line(self) -> str:
        """``*** missing symbols for app.exe: <reason>`` (symbolize's wording), or where the
        symbols came from: ``*** exact symbols for app.exe: /sym/app.pdb``."""
        return f"*** {self.status} symbols for {self.module}: " \
               f"{self.source or self.reason or 'no reason recorded'}"


def module_symbol_status(module: Any, syms: Any, resolver: Any) -> ModuleSymbolStatus:
    """The record for ``module`` given what the resolver loaded for it (``syms``, a
    ``ModuleSymbols`` or None): ``exact`` (found, path in ``source``), ``export`` (names from
    the image's exports only), ``mismatched`` (a file of another id, used on
    --allow-mismatch), ``id_mismatch`` (a file of that name with another id was found and
    refused), ``missing``."""
    status = getattr(getattr(syms, "status", None), "value", None) or "missing"
    reason = getattr(syms, "reason", None) if syms is not None else "no symbol path"
    refused = refused_file(resolver, module) if status == "missing" else None
    if refused is not None:
        status, reason = "id_mismatch", refused
    source = getattr(syms, "source", None)
    return ModuleSymbolStatus(module.name, str(module.debug_id) if module.debug_id else None,
                              status, getattr(syms, "kind", None),
                              str(source) if source is not None else None, reason)


def loaded_symbol_status(resolver: Any) -> Tuple[ModuleSymbolStatus, ...]:
    """One record per module the resolver was asked about during a walk (its ``loaded()``;
    a resolver that keeps no such list, e.g. the debugger engine's, gives none)."""
    loaded = getattr(resolver, "loaded", None)
    if loaded is None:
        return ()
    out: List[ModuleSymbolStatus] = []
    seen = set()
    for syms in sorted(loaded(), key=lambda s: s.module.base):
        key = (syms.module.base, syms.module.name)
        if key not in seen:
            seen.add(key)
            out.append(module_symbol_status(syms.module, syms, resolver))
    return tuple(out)


def refused_file(resolver: Any, module: Any) -> Optional[str]:
    """The locator's ``symbol-id-mismatch`` report for this module's id: a file of the right
    name that carries another debug id (``<path>: carries X, not <id>``)."""
    if module.debug_id is None:
        return None
    wanted = f"not {module.debug_id}"
    for problem in getattr(getattr(resolver, "locator", None), "problems", None) or []:
        if problem.code == "symbol-id-mismatch" and problem.message.endswith(wanted):
            return problem.message
    return None


__all__ = ["ModuleSymbolStatus", "module_symbol_status", "loaded_symbol_status", "refused_file"]
