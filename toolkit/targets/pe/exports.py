"""Exports of a PE image, read with pefile (file layout; ``toolkit.targets.pe.image`` rebuilds one for memory)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import pefile

from toolkit.model.hexfmt import hex_int

MAX_EXPORTS = 1 << 16


@dataclass(frozen=True)
class Export:
    ordinal: int
    name: Optional[str]                 # None for ordinal-only exports
    rva: int
    forwarder: Optional[str] = None     # "NTDLL.RtlAllocateHeap" when forwarded

    def to_json(self) -> Dict[str, Any]:
        return {"ordinal": self.ordinal, "name": self.name, "rva": hex_int(self.rva),
                "forwarder": self.forwarder}


def read_exports(pe: pefile.PE) -> List[Export]:
    pe.max_symbol_exports = MAX_EXPORTS
    pe.parse_data_directories(directories=[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_EXPORT"]])
    directory = getattr(pe, "DIRECTORY_ENTRY_EXPORT", None)
    if directory is None:
        return []
    out = []
    for sym in directory.symbols:
        name = sym.name.decode("latin1") if sym.name else None
        forwarder = sym.forwarder.decode("latin1") if sym.forwarder else None
        out.append(Export(sym.ordinal, name, sym.address or 0, forwarder))
    return out


__all__ = ["Export", "read_exports"]
