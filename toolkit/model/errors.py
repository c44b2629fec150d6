"""One error hierarchy for everything dumpkit raises on purpose.

::

    DumpkitError
    ├── InputError              the input cannot be used at all (not a dump, not a PE, empty)
    │   ├── UnsupportedTarget   a well-formed input we decline (Linux/macOS minidump, kernel dump)
    │   └── CorruptInput        a structure is malformed
    │       └── CorruptStream   ... inside a minidump stream (carries stream type and offset)
    ├── UnreadableMemory        an address range is not in the target (carries address, size)
    ├── SymbolsNotFound         no symbol file matched a debug id (carries the id)
    └── SymbolEngineUnavailable the PDB engine (``symbolic``) cannot be imported on this host

"Not found" is kept apart from "corrupt" so callers can fall back on the first and must report
the second. Only the CLI's top level catches these: it prints ``ErrorName: message`` and exits 2.
"""

from __future__ import annotations

from typing import Optional


class DumpkitError(Exception):
    """Base of every error dumpkit raises deliberately."""


class InputError(DumpkitError):
    """The input file or text cannot be used."""


class UnsupportedTarget(InputError):
    """A well-formed input of a kind dumpkit declines to analyse."""


class CorruptInput(InputError):
    """A structure in the input is malformed (truncated, out of bounds, inconsistent)."""

    def __init__(self, message: str, *, offset: Optional[int] = None, path: str = "") -> None:
        self.offset = offset
        self.path = path
        where = []
        if path:
            where.append(path)
        if offset is not None:
            where.append(f"at file offset {offset:#x}")
        super().__init__(f"{message} ({', '.join(where)})" if where else message)


class CorruptStream(CorruptInput):
    """A minidump stream is malformed."""

    def __init__(self, stream_type: int, message: str, *, offset: Optional[int] = None) -> None:
        self.stream_type = stream_type
        super().__init__(f"stream {stream_type:#x}: {message}", offset=offset)


class UnreadableMemory(DumpkitError):
    """The target holds no bytes for (part of) an address range."""

    def __init__(self, address: int, size: int) -> None:
        self.address = address
        self.size = size
        super().__init__(f"memory at {address:#x} (+{size:#x}) is not in the target")


class SymbolsNotFound(DumpkitError):
    """No symbol file on the symbol path matched a debug id."""

    def __init__(self, debug_id: str, name: str = "") -> None:
        self.debug_id = debug_id
        self.name = name
        super().__init__(f"no symbols for {name or '?'} with debug id {debug_id}")


class SymbolEngineUnavailable(DumpkitError):
    """``symbolic`` cannot be imported (it ships no Windows wheels): the host lacks the engine,
    the input is not at fault, so this is not an InputError."""


__all__ = [
    "DumpkitError",
    "InputError",
    "UnsupportedTarget",
    "CorruptInput",
    "CorruptStream",
    "UnreadableMemory",
    "SymbolsNotFound",
    "SymbolEngineUnavailable",
]
