"""A symbolized address: the one value type every front end prints, and its one formatter.

dbghelp answers SymFromAddr with a symbol and a displacement and SymGetLineFromAddr with a file
and line; WinDbg prints both as ``module!symbol+0xoff [file @ line]``. A ``Location`` carries
that answer plus what dbghelp hides: the inline chain (innermost first) and how much the answer
can be trusted (exact PDB, exports only, nothing, or a PDB that did not match the module).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

from toolkit.model.hexfmt import hex_addr, hex_int


class SymbolStatus(str, enum.Enum):
    """How the symbol in a ``Location`` was obtained; ordered from best to worst."""

    EXACT = "exact"            # a debug file whose id matches the module
    PUBLIC = "public"          # that file's procedure/public records only (no line data there):
                               # the nearest preceding symbol, WinDbg's public-symbol match
    EXPORT = "export"          # only the image's export table (no debug file found)
    MISMATCHED = "mismatched"  # a debug file with a different id, used on --allow-mismatch
    MISSING = "missing"        # no symbols at all: the answer is module+offset (or a bare address)



def module_label(name: str) -> str:
    """A module as WinDbg names it: ``crash.exe`` -> ``crash`` (short extensions only)."""
    stem, dot, ext = name.rpartition(".")
    return stem if dot and stem and 1 <= len(ext) <= 4 else name

@dataclass(frozen=True)
class InlineFrame:
    """One inlined call active at an address: the inlinee and where in it the address is."""

    function: str
    file: Optional[str] = None
    line: Optional[int] = None

    def to_json(self) -> Dict[str, Any]:
        return {"function": self.function, "file": self.file, "line": self.line}


@dataclass(frozen=True)
class Location:
    """An address resolved against the module that contains it.

    ``symbol`` is the outermost (real, non-inlined) function, so ``displacement`` is counted from
    its entry as WinDbg counts it; ``file``/``line`` are that function's line at the address
    (for inlined code: the call site). ``inlines`` lists the inlined calls, innermost first.
    Without a symbol, ``displacement`` is the offset from the module base.
    """

    address: int
    module: Optional[str] = None          # file name, e.g. "test_app.exe"; None: no module
    module_base: Optional[int] = None
    symbol: Optional[str] = None
    displacement: int = 0
    file: Optional[str] = None
    line: Optional[int] = None
    column: Optional[int] = None
    inlines: Tuple[InlineFrame, ...] = ()
    status: SymbolStatus = SymbolStatus.MISSING
    reason: Optional[str] = None          # why symbols are missing/mismatched, in one sentence

    @property
    def module_label(self) -> Optional[str]:
        """The module as WinDbg names it: the file name without its extension."""
        return None if self.module is None else module_label(self.module)

    def format(self, pointer_size: int = 8) -> str:
        """``module!function+0xoff [file @ line]``, degrading to ``module+0xoff`` or an address."""
        if self.module is None:
            return hex_addr(self.address, pointer_size) or ""
        text = self.module_label or ""
        if self.symbol is not None:
            text += "!" + self.symbol
        if self.displacement or self.symbol is None:
            text += f"+{self.displacement:#x}"
        if self.file is not None and self.line:
            text += f" [{self.file} @ {self.line}]"
        return text

    def to_json(self, pointer_size: int = 8) -> Dict[str, Any]:
        return {
            "address": hex_addr(self.address, pointer_size),
            "module": self.module,
            "module_base": hex_addr(self.module_base, pointer_size),
            "symbol": self.symbol,
            "displacement": hex_int(self.displacement),
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "inlines": [frame.to_json() for frame in self.inlines],
            "status": self.status.value,
            "reason": self.reason,
            "text": self.format(pointer_size),
        }


__all__ = ["SymbolStatus", "InlineFrame", "Location"]
