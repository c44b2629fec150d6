"""Declarative binary layouts (construct) that parse and build: they know bytes, nothing else.
May import: the standard library, construct, numpy, and toolkit.model's errors and debug ids only.

Every structure parses and builds; no I/O, no policy.
"""

from __future__ import annotations

# The package's public API is its modules, one per header family; import a layout from its module
# (``from parsers.pe_debug import IMAGE_DEBUG_DIRECTORY``). Each module has its own ``__all__``.
# Nothing is imported here, so using one layout does not build every other one.
__all__ = ["codeview", "context", "flags", "load_config", "minidump", "minidump_handles",
           "minidump_memory", "minidump_misc", "minidump_modules", "minidump_threads",
           "modload_data", "nt_tib", "pe_cor20", "pe_debug", "trace", "unwind_amd64"]
