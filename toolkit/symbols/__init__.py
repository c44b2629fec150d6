"""Symbol files for modules: the symbol path, stores, the download cache, and id checks.

``SymbolPath`` parses WinDbg's ``_NT_SYMBOL_PATH`` syntax; ``SymbolLocator`` walks it and returns
``LocatedFile``s that were verified to carry the wanted debug id or code id; ``verify`` says which
ids a file carries. Resolving addresses to names (SymCache lookups) sits on top of this.
"""

from __future__ import annotations

from toolkit.symbols.cache import default_cache_dir
from toolkit.symbols.locator import CodeFileRequest, DebugFileRequest, LocatedFile, SymbolLocator
from toolkit.symbols.symbol_path import HttpServer, LocalStore, SymbolPath
from toolkit.symbols.verify import code_id_of, debug_ids_of

__all__ = [
    "CodeFileRequest",
    "DebugFileRequest",
    "HttpServer",
    "LocalStore",
    "LocatedFile",
    "SymbolLocator",
    "SymbolPath",
    "code_id_of",
    "debug_ids_of",
    "default_cache_dir",
]
