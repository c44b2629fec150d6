"""Flat numpy arrays read out of a symbolic SymCache, for lookups by the million.

Why not just ``SymCache.lookup``: symbolic's Python binding answers one address per call
(~44k lookups/s measured here) and exposes no way to list functions or ranges. The SymCache file
itself is a handful of little-endian arrays (symbolic-symcache ``raw.rs``; format versions 7-9),
so we read them with ``numpy.frombuffer`` once per symbol file, resolve every range to its
outermost function and line, and answer batches with ``searchsorted`` (~10M lookups/s).

Layout (version 9; 8 differs only in the 12-byte File record)::

    "SYMC" u32 version | DebugId (32) | arch u32 | num_files num_functions
    num_source_locations num_ranges string_bytes (u32 each) | reserved[16]      = 80 bytes
    then, each 8-byte aligned: File[] Function[] SourceLocation[] Range[] strings
    File           = comp_dir, directory, name (, srcsrv_name, srcsrv_dir, revision)  string offsets
    Function       = name_offset, comp_dir_offset, entry_pc, lang
    SourceLocation = file_idx, line, function_idx, inlined_into_idx   (u32::MAX = none)
    Range          = start address (u32); range i owns source location (num_locations - num_ranges + i)
    strings        = LEB128 length + UTF-8 bytes (version >= 8)

The extracted table is saved as ``.npz`` beside the SymCache so warm runs skip even this step.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from toolkit.model.errors import CorruptInput
from toolkit.symbols.cache import atomic_writer

NONE32 = 0xFFFFFFFF
_HEADER_SIZE = 80
_FILE_FIELDS = {7: 3, 8: 3, 9: 6}          # u32 fields per File record, by SymCache version
TABLE_FORMAT = 2                          # bump when the .npz layout changes


def _align8(offset: int) -> int:
    return (offset + 7) & ~7


@dataclass(frozen=True)
class FunctionTable:
    """Every address range of one symbol file, resolved to its outermost function and line.

    ``range_func[i]`` is -1 where a range holds no code (gaps between functions); addresses are
    module-relative (RVAs), as SymCaches store them.
    """

    range_starts: np.ndarray      # uint32, sorted
    range_func: np.ndarray        # int32: outermost function index, -1 = no symbol
    range_line: np.ndarray        # uint32: outermost frame's line (0 = unknown)
    range_file: np.ndarray        # int32: outermost frame's file index, -1 = unknown
    range_inlined: np.ndarray     # bool: the range lies in inlined code
    func_entry: np.ndarray        # uint32: entry RVA per function
    func_names: Tuple[str, ...]
    file_paths: Tuple[str, ...]
    range_public: Optional[np.ndarray] = None   # bool: answered from the PDB's own records
                                                # (pdb_records.fill_table), not its line data

    @property
    def function_count(self) -> int:
        return len(self.func_names)

    def lookup(self, rvas: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Function index (-1: none) and range index for each RVA, fully vectorised."""
        rvas = np.asarray(rvas, dtype=np.int64)
        idx = np.searchsorted(self.range_starts, rvas, side="right") - 1
        valid = (idx >= 0) & (rvas >= 0) & (rvas <= NONE32)
        safe = np.where(valid, idx, 0)
        func = np.where(valid, self.range_func[safe] if len(self.range_func) else -1, -1)
        return func.astype(np.int64), np.where(valid, idx, -1)

    # -- persistence -------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write the table as .npz atomically (temp file + rename), names as one NUL-joined blob."""
        with atomic_writer(path) as fh:
            np.savez(fh, format=np.array([TABLE_FORMAT]),
                     range_starts=self.range_starts, range_func=self.range_func,
                     range_line=self.range_line, range_file=self.range_file,
                     range_inlined=self.range_inlined, func_entry=self.func_entry,
                     range_public=self.range_public if self.range_public is not None
                     else np.zeros(len(self.range_starts), dtype=bool),
                     func_names=np.frombuffer("\0".join(self.func_names).encode("utf-8"),
                                              dtype=np.uint8),
                     file_paths=np.frombuffer("\0".join(self.file_paths).encode("utf-8"),
                                              dtype=np.uint8))

    @classmethod
    def load(cls, path: Path) -> Optional["FunctionTable"]:
        """The saved table, or None when absent, stale or unreadable (then it is rebuilt)."""
        try:
            with np.load(str(path), allow_pickle=False) as z:
                if int(z["format"][0]) != TABLE_FORMAT:
                    return None
                names = bytes(z["func_names"]).decode("utf-8")
                files = bytes(z["file_paths"]).decode("utf-8")
                func_entry = z["func_entry"]
                return cls(z["range_starts"], z["range_func"], z["range_line"], z["range_file"],
                           z["range_inlined"], func_entry,
                           tuple(names.split("\0")) if len(func_entry) else (),
                           tuple(files.split("\0")) if files else (), z["range_public"])
        except (OSError, KeyError, ValueError, EOFError):
            return None

    @classmethod
    def from_symcache(cls, data: bytes) -> "FunctionTable":
        """Read a SymCache file's arrays (see the module docstring) into a table."""
        return _read_symcache(memoryview(data))


def _read_symcache(buf: memoryview) -> FunctionTable:
    if len(buf) < _HEADER_SIZE or bytes(buf[:4]) != b"SYMC":
        raise CorruptInput("not a SymCache file")
    version = struct.unpack_from("<I", buf, 4)[0]
    if version not in _FILE_FIELDS:
        raise CorruptInput(f"SymCache version {version} is not one dumpkit can read")
    n_files, n_funcs, n_locs, n_ranges, n_strings = struct.unpack_from("<5I", buf, 44)
    if n_ranges > n_locs:
        raise CorruptInput("SymCache has more ranges than source locations")
    file_fields = _FILE_FIELDS[version]

    def take(offset: int, count: int) -> Tuple[np.ndarray, int]:
        end = offset + 4 * count
        if end > len(buf):
            raise CorruptInput("SymCache is truncated", offset=offset)
        return np.frombuffer(buf, dtype="<u4", count=count, offset=offset), _align8(end)

    offset = _HEADER_SIZE
    files, offset = take(offset, n_files * file_fields)
    funcs, offset = take(offset, n_funcs * 4)
    locs, offset = take(offset, n_locs * 4)
    ranges, offset = take(offset, n_ranges)
    strings = bytes(buf[offset:offset + n_strings])
    files = files.reshape(n_files, file_fields)
    funcs = funcs.reshape(n_funcs, 4)
    locs = locs.reshape(n_locs, 4)

    root = _outermost(locs[:, 3])
    own = np.arange(n_locs - n_ranges, n_locs, dtype=np.int64)
    top = root[own] if n_ranges else own
    func = locs[top, 2].astype(np.int64) if n_ranges else np.zeros(0, np.int64)
    func[func >= n_funcs] = -1                       # NO_SOURCE_LOCATION sentinels, bad indices
    file_idx = locs[top, 0].astype(np.int64) if n_ranges else np.zeros(0, np.int64)
    file_idx[file_idx >= n_files] = -1
    reader = _Strings(strings, version)
    names = tuple(reader.get(int(off)) or "?" for off in funcs[:, 0])
    paths = tuple(_join_path(*(reader.get(int(off)) for off in row[:3])) for row in files)
    return FunctionTable(
        range_starts=np.ascontiguousarray(ranges, dtype=np.uint32),
        range_func=func.astype(np.int32),
        range_line=np.where(func >= 0, locs[top, 1], 0).astype(np.uint32)
        if n_ranges else np.zeros(0, np.uint32),
        range_file=file_idx.astype(np.int32),
        range_inlined=(top != own),
        func_entry=np.ascontiguousarray(funcs[:, 2], dtype=np.uint32),
        func_names=names, file_paths=paths)


def _outermost(parents: np.ndarray) -> np.ndarray:
    """For each source location, the index of the root of its inlined-into chain."""
    parent = parents.astype(np.int64)
    parent[parent >= len(parent)] = -1
    root = np.arange(len(parent), dtype=np.int64)
    for _ in range(256):                             # symbolic caps inline depth at 255 too
        up = parent[root]
        climbing = up >= 0
        if not climbing.any():
            break
        root = np.where(climbing, up, root)
    return root


class _Strings:
    """The SymCache string table: LEB128-prefixed (v8+) or u32-prefixed (v7) UTF-8 strings."""

    def __init__(self, data: bytes, version: int) -> None:
        self.data = data
        self.version = version

    def get(self, offset: int) -> Optional[str]:
        if offset == NONE32 or offset >= len(self.data):
            return None
        data, pos = self.data, offset
        if self.version == 7:
            length, pos = int.from_bytes(data[pos:pos + 4], "little"), pos + 4
        else:
            length = shift = 0
            while pos < len(data):
                byte = data[pos]
                pos += 1
                length |= (byte & 0x7F) << shift
                shift += 7
                if byte < 0x80:
                    break
        return data[pos:pos + length].decode("utf-8", errors="replace")


def _join_path(comp_dir: Optional[str], directory: Optional[str], name: Optional[str]) -> str:
    """Join the File record's parts the way symbolic's ``full_path`` does for Windows paths."""
    path = name or ""
    for base in (directory, comp_dir):
        if not base or _is_absolute(path):
            continue
        sep = "\\" if ("\\" in base or base[1:2] == ":") else "/"
        path = base.rstrip("\\/") + sep + path if path else base
    return path


def _is_absolute(path: str) -> bool:
    return path.startswith(("/", "\\")) or path[1:3] in (":\\", ":/")


__all__ = ["FunctionTable", "NONE32"]
