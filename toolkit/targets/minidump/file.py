"""A minidump file opened read-only with mmap: header, stream directory, bounds-checked access.

This is our own walk of the container rather than the ``minidump`` package's, because that
package aborts on any stream type missing from its enum (Wine's 0xFFF0, Breakpad's 0x4767xxxx)
and misreads the header's TimeDateStamp/Flags (tests/toolkit/test_minidump_package_gaps.py).

Every rva/size read from the file is checked against the file size before it is used, and every
count against the bytes that would hold its items, so hostile input costs at most the file's own
size in memory and always ends in a one-line ``CorruptInput``/``CorruptStream``.
"""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Union

from construct import ConstructError, Struct
from parsers.sizes import fixed_size

from parsers.minidump import (MINIDUMP_DIRECTORY, MINIDUMP_HEADER, MINIDUMP_SIGNATURE,
                              MINIDUMP_STREAM_TYPE, MINIDUMP_VERSION)
from toolkit.model.errors import CorruptInput, CorruptStream, InputError
from toolkit.model.target import Problem
from toolkit.targets.minidump.structread import read_directory

MAX_STRING_BYTES = 0x10000        # a MINIDUMP_STRING longer than 64 KiB is not a name
_STREAM_NAMES: Dict[int, str] = {code: str(name)
                                 for code, name in MINIDUMP_STREAM_TYPE.decmapping.items()}


@dataclass(frozen=True)
class DirectoryEntry:
    index: int
    stream_type: int
    name: str                     # the MINIDUMP_STREAM_TYPE name
    rva: int
    size: int


class MinidumpFile:
    """The bytes of one dump and its stream directory. Decodes nothing beyond the directory."""

    def __init__(self, source: Union[str, "os.PathLike[str]", bytes]) -> None:
        self.path = "<bytes>" if isinstance(source, (bytes, bytearray)) else os.fspath(source)
        self._mmap: Optional[mmap.mmap] = None
        if isinstance(source, (bytes, bytearray)):
            self.data: Union[bytes, mmap.mmap] = bytes(source)
        else:
            with open(source, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if size == 0:
                    raise InputError(f"{self.path} is empty")
                self._mmap = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
                self.data = self._mmap
        self.view = memoryview(self.data)
        self.size = len(self.data)
        self.problems: List[Problem] = []
        self.header = self._parse_header()
        self._by_type: Dict[int, DirectoryEntry] = {}
        self.stream_counts: Dict[int, int] = {}
        self._parse_directory()

    # ---- header and directory ---------------------------------------------------------------

    def _parse_header(self):
        if self.size < fixed_size(MINIDUMP_HEADER) or bytes(self.view[:4]) != MINIDUMP_SIGNATURE:
            raise InputError(f"{self.path} is not a minidump (no MDMP signature)")
        header = MINIDUMP_HEADER.parse(self.view[:fixed_size(MINIDUMP_HEADER)])
        if header.Version != MINIDUMP_VERSION:
            raise CorruptInput(f"minidump version {header.Version:#06x} is not {MINIDUMP_VERSION:#x}",
                               offset=4, path=self.path)
        return header

    def _parse_directory(self) -> None:
        """The first entry of each stream type a reader here decodes (MINIDUMP_STREAM_TYPE),
        and how many entries each has; other types are never read, so they are not kept.

        A hostile directory of millions of entries costs one pass and memory of its own size,
        and a type repeated a million times is one problem with its count, not a million
        (issue 12)."""
        count, rva = self.header.NumberOfStreams, self.header.StreamDirectoryRva
        item = fixed_size(MINIDUMP_DIRECTORY)
        if rva + count * item > self.size:
            raise CorruptInput(f"stream directory of {count} entries at {rva:#x} runs past the "
                               f"end of the {self.size:#x}-byte file", offset=0xC, path=self.path)
        # MINIDUMP_DIRECTORY through struct (construct took ~0.1 ms an entry, and every dump
        # of a triage run opens here); tests/toolkit/test_minidump.py holds both to one answer
        first, self.stream_counts = read_directory(self.view, count, rva,
                                                   [code for code in _STREAM_NAMES if code > 2])
        for code, (index, at, size) in sorted(first.items(), key=lambda item: item[1][0]):
            name = _STREAM_NAMES[code]
            self._by_type[code] = DirectoryEntry(index, code, name, at, size)
            extra = self.stream_counts[code] - 1
            if extra:
                self.problems.append(Problem(
                    "minidump.duplicate_stream",
                    f"stream {name} appears {extra + 1} times; the first is used"))

    # ---- access -------------------------------------------------------------------------------

    def entry(self, stream_type: int) -> Optional[DirectoryEntry]:
        return self._by_type.get(stream_type)

    def has(self, stream_type: int) -> bool:
        return stream_type in self._by_type

    def stream(self, stream_type: int) -> Optional[memoryview]:
        """The bytes of the stream, or None when absent; CorruptStream when out of the file."""
        entry = self._by_type.get(stream_type)
        if entry is None:
            return None
        if entry.rva + entry.size > self.size:
            raise CorruptStream(stream_type, f"{entry.size:#x} bytes at {entry.rva:#x} run past "
                                f"the end of the {self.size:#x}-byte file", offset=entry.rva)
        return self.view[entry.rva:entry.rva + entry.size]

    def slice(self, rva: int, size: int, stream_type: int, what: str) -> memoryview:
        """``size`` bytes at file offset ``rva``, or CorruptStream naming ``what`` they hold."""
        if rva < 0 or size < 0 or rva + size > self.size:
            raise CorruptStream(stream_type, f"{what}: {size:#x} bytes at {rva:#x} run past the "
                                f"end of the {self.size:#x}-byte file", offset=rva)
        return self.view[rva:rva + size]

    def parse(self, layout: Struct, rva: int, stream_type: int, what: str,
              size: Optional[int] = None):
        """Parse a fixed-size ``layout`` at ``rva`` after bounds-checking it."""
        n = fixed_size(layout) if size is None else size
        data = self.slice(rva, n, stream_type, what)
        try:
            return layout.parse(data)
        except ConstructError as exc:      # only variable-size layouts can get here
            raise CorruptStream(stream_type, f"{what}: {exc}", offset=rva) from None

    def string(self, rva: int, stream_type: int, what: str = "string") -> str:
        """A MINIDUMP_STRING (u32 byte length + UTF-16LE), bounded to the file and 64 KiB."""
        head = self.slice(rva, 4, stream_type, what)
        length = int.from_bytes(head, "little")
        if length > MAX_STRING_BYTES:
            raise CorruptStream(stream_type, f"{what} at {rva:#x} claims {length:#x} bytes",
                                offset=rva)
        body = self.slice(rva + 4, length & ~1, stream_type, what)
        return bytes(body).decode("utf-16-le", errors="replace")

    def close(self) -> None:
        self.view.release()
        if self._mmap is not None:
            try:
                self._mmap.close()
            except BufferError:   # a MemoryMap or caller still holds a view; GC closes it later
                pass

    def __enter__(self) -> "MinidumpFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["DirectoryEntry", "MinidumpFile", "MAX_STRING_BYTES"]
