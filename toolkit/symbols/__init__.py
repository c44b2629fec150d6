"""Symbol files for modules: the symbol path, stores, the download cache, id checks, lookups.
May import: parsers, toolkit.model, .targets and .unwind; never analyses or commands.

``SymbolPath`` parses WinDbg's ``_NT_SYMBOL_PATH`` syntax; ``SymbolLocator`` walks it and returns
``LocatedFile``s that were verified to carry the wanted debug id or code id; ``verify`` says which
ids a file carries. On top of that, ``Resolver`` turns addresses into ``Location``s one at a
time (SymCache, inline frames) and ``BatchSymbolizer`` many at once (numpy tables).
"""

from __future__ import annotations

from toolkit.symbols.batch import BatchSymbolizer
from toolkit.symbols.cache import default_cache_dir
from toolkit.symbols.location import Location, SymbolStatus
from toolkit.symbols.locator import CodeFileRequest, DebugFileRequest, LocatedFile, SymbolLocator
from toolkit.symbols.module_index import ModuleIndex
from toolkit.symbols.resolver import Resolver
from toolkit.symbols.symbol_path import HttpServer, LocalStore, SymbolPath
from toolkit.symbols.symbolize import Symbolizer
from toolkit.symbols.verify import code_id_of, debug_ids_of

__all__ = [
    "BatchSymbolizer",
    "CodeFileRequest",
    "DebugFileRequest",
    "HttpServer",
    "LocalStore",
    "LocatedFile",
    "Location",
    "ModuleIndex",
    "Resolver",
    "SymbolLocator",
    "SymbolPath",
    "SymbolStatus",
    "Symbolizer",
    "code_id_of",
    "debug_ids_of",
    "default_cache_dir",
]
