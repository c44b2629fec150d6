"""A PDB's own procedure and public records, for the addresses symbolic's SymCache leaves blank.

symbolic builds its SymCache from the PDB's line programs and inlinee data; a function whose
module has no line information (``wmain`` of an optimized x64 exe: an S_GPROC32 of 143 bytes),
assembler routines (``_SEH_prolog4``), import thunks and the padding between functions come out
as "no symbol". WinDbg answers such an address from the PDB's records instead: the nearest
preceding procedure or public symbol, with the displacement from it. This module reads those
records so the resolver can do the same (marked ``SymbolStatus.PUBLIC``).

Why our own reader and not ``pdbparse``: pdbparse is not in this environment's package index and
has had no release since 2018; what we need is a few fixed layouts (LLVM's "The PDB File Format"
docs, microsoft-pdb ``dbi.h``/``cvinfo.h``), read with ``construct`` like the rest of parsers/:

* MSF superblock -> stream directory (block list per stream);
* DBI stream (3): header, module info substream (each module's symbol stream), the optional
  debug header (section header stream, OMAP stream);
* each module's symbol stream: S_GPROC32 / S_LPROC32 (and their ``_ID`` forms), S_THUNK32;
* the symbol record stream: S_PUB32.

Addresses are ``segment:offset``; the section headers turn them into RVAs. A PDB with OMAP
(a Syzygy/BBT-rewritten image) is read as having no records: its offsets are pre-rewrite ones
and we do not translate them.

The result is a ``PdbRecords`` of sorted arrays, saved as ``.npz`` beside the SymCache, so the
second walk over the same module reads no PDB at all.
"""

from __future__ import annotations

import functools
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
from construct import Bytes, Int16ul, Int32sl, Int32ul, Struct

from toolkit.model.errors import CorruptInput
from toolkit.symbols.cache import atomic_writer

if TYPE_CHECKING:
    from toolkit.symbols.function_table import FunctionTable

MSF_MAGIC = b"Microsoft C/C++ MSF 7.00\r\n\x1aDS\x00\x00\x00"
RECORDS_FORMAT = 1

SUPERBLOCK = Struct(
    "magic" / Bytes(32),
    "block_size" / Int32ul,
    "free_block_map_block" / Int32ul,
    "num_blocks" / Int32ul,
    "num_directory_bytes" / Int32ul,
    "unknown" / Int32ul,
    "block_map_addr" / Int32ul,          # block holding the directory's block list
)

DBI_HEADER = Struct(
    "version_signature" / Int32sl,
    "version_header" / Int32ul,
    "age" / Int32ul,
    "global_stream_index" / Int16ul,
    "build_number" / Int16ul,
    "public_stream_index" / Int16ul,
    "pdb_dll_version" / Int16ul,
    "sym_record_stream" / Int16ul,
    "pdb_dll_rbld" / Int16ul,
    "mod_info_size" / Int32sl,
    "section_contribution_size" / Int32sl,
    "section_map_size" / Int32sl,
    "source_info_size" / Int32sl,
    "type_server_map_size" / Int32sl,
    "mfc_type_server_index" / Int32ul,
    "optional_dbg_header_size" / Int32sl,
    "ec_substream_size" / Int32sl,
    "flags" / Int16ul,
    "machine" / Int16ul,
    "padding" / Int32ul,
)                                        # 64 bytes

MOD_INFO_FIXED = Struct(                 # followed by ModuleName and ObjFileName C strings
    "unused1" / Int32ul,
    "section_contr" / Bytes(28),
    "flags" / Int16ul,
    "module_sym_stream" / Int16ul,
    "sym_byte_size" / Int32ul,
    "c11_byte_size" / Int32ul,
    "c13_byte_size" / Int32ul,
    "source_file_count" / Int16ul,
    "padding" / Int16ul,
    "unused2" / Int32ul,
    "source_file_name_index" / Int32ul,
    "pdb_file_path_name_index" / Int32ul,
)                                        # 64 bytes

S_PUB32 = 0x110E
S_LPROC32, S_GPROC32, S_LPROC32_ID, S_GPROC32_ID = 0x110F, 0x1110, 0x1146, 0x1147
S_THUNK32 = 0x1127
_PROCS = (S_LPROC32, S_GPROC32, S_LPROC32_ID, S_GPROC32_ID)
_DBG_OMAP_FROM_SRC, _DBG_SECTION_HDR = 4, 5
IMAGE_FILE_MACHINE_I386 = 0x14C
_NIL = 0xFFFFFFFF


@dataclass(frozen=True)
class PdbRecords:
    """Procedures (with their length) and publics of one PDB, sorted by RVA.

    ``kind`` is 0 for a procedure or thunk (``size`` bytes long), 1 for a public symbol (size 0:
    a public has no length). ``names`` are as the PDB spells them (publics still decorated).
    """

    rva: np.ndarray          # uint32, sorted
    size: np.ndarray         # uint32
    kind: np.ndarray         # uint8
    names: Tuple[str, ...]
    machine: int

    @property
    def is_x86(self) -> bool:
        return self.machine == IMAGE_FILE_MACHINE_I386

    def __len__(self) -> int:
        return len(self.names)

    def fix_name(self, name: str, entry: int) -> str:
        """``name`` (symbolic's, for the function at ``entry``) as the PDB spells it.

        symbolic strips one leading underscore from every C name as if it were x86-decorated,
        x64 and ARM64 included (``__C_specific_handler`` -> ``_C_specific_handler``), and keeps
        x86 publics decorated (``__SEH_prolog4()`` for ``_SEH_prolog4``). Where a record at
        ``entry`` shows that, take the record's name; C++ names it left mangled get demangled.
        """
        bare, params = split_parameters(name)
        at = self.names_at.get(entry, ())
        if self.is_x86 and (1, bare) in at and not bare.startswith("?"):
            return undecorate_c(bare, True) + params  # a MASM PROC: named like its public
        if any(kind == 0 and own == bare for kind, own in at):
            return name
        for kind, own in at:
            if kind == 0 and own.startswith("_") and own[1:] == bare:
                return own + params
        for kind, own in at:
            if kind == 1 and not self.is_x86 and own == "_" + bare:
                return own + params
        if name.startswith("?"):                 # stored mangled (e.g. /Zi with /Gy- objects)
            return demangle(name)
        return name

    def nearest(self, rva: int) -> Optional[Tuple[str, int, bool]]:
        """(display name, symbol RVA, is_public) of the symbol dbghelp names for ``rva``.

        The procedure containing ``rva`` wins; else the nearest preceding public symbol (in
        padding, past a static function's end, in code described only by a public label), as
        dbghelp and llvm-symbolizer's native PDB reader answer; of several publics at one
        address the first in the PDB's address map on an exact hit, else the last (llvm's
        ``lower_bound`` and step back). Else the nearest preceding procedure. None before
        every symbol.
        """
        procs, pubs = self._split
        i = int(np.searchsorted(self.rva[procs], rva, side="right")) - 1
        if i >= 0:
            j = int(procs[i])
            if rva < int(self.rva[j]) + int(self.size[j]):
                return self.fix_name(self.names[j], int(self.rva[j])), int(self.rva[j]), False
        p_rva = self.rva[pubs]
        k = int(np.searchsorted(p_rva, rva, side="right")) - 1
        if k >= 0:
            start = int(p_rva[k])
            if start == rva:
                k = int(np.searchsorted(p_rva, rva, side="left"))
            j = int(pubs[k])
            return display_name(self.names[j], True, self.is_x86), start, True
        if i >= 0:
            j = int(procs[i])
            return self.fix_name(self.names[j], int(self.rva[j])), int(self.rva[j]), True
        return None

    @functools.cached_property
    def _split(self) -> Tuple[np.ndarray, np.ndarray]:
        """Indices of the procedures and of the publics, each in RVA order."""
        return np.flatnonzero(self.kind == 0), np.flatnonzero(self.kind == 1)

    @functools.cached_property
    def names_at(self) -> Dict[int, Tuple[Tuple[int, str], ...]]:
        """RVA -> (kind, raw name) of every record there."""
        out: Dict[int, List[Tuple[int, str]]] = {}
        for r, k, n in zip(self.rva.tolist(), self.kind.tolist(), self.names):
            out.setdefault(r, []).append((k, n))
        return {r: tuple(v) for r, v in out.items()}

    # -- persistence -------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        with atomic_writer(path) as fh:
            np.savez(fh, format=np.array([RECORDS_FORMAT]), machine=np.array([self.machine]),
                     rva=self.rva, size=self.size, kind=self.kind,
                     names=np.frombuffer("\0".join(self.names).encode("utf-8"), dtype=np.uint8))

    @classmethod
    def load(cls, path: Path) -> Optional["PdbRecords"]:
        """The saved records, or None when absent, stale or unreadable (then re-read)."""
        try:
            with np.load(str(path), allow_pickle=False) as z:
                if int(z["format"][0]) != RECORDS_FORMAT:
                    return None
                rva = z["rva"]
                text = bytes(z["names"]).decode("utf-8")
                return cls(rva, z["size"], z["kind"], tuple(text.split("\0")) if len(rva) else (),
                           int(z["machine"][0]))
        except (OSError, KeyError, ValueError, EOFError):
            return None


def split_parameters(name: str) -> Tuple[str, str]:
    """``foo(int, char*)`` -> (``foo``, ``(int, char*)``): symbolic appends the parameter list
    from the type records; the records themselves name the function without it."""
    if not name.endswith(")"):
        return name, ""
    depth = 0
    for i in range(len(name) - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(name[i], 0)
        if depth == 0:
            return (name[:i], name[i:]) if i > 0 else (name, "")
    return name, ""


_X86_STDCALL = re.compile(r"^_(?P<name>[^@?]+)@\d+$")
_X86_FASTCALL = re.compile(r"^@(?P<name>[^@]+)@\d+$")
_X86_VECTORCALL = re.compile(r"^(?P<name>[^@?]+)@@\d+$")


def undecorate_c(name: str, is_x86: bool) -> str:
    """Strip x86 C decoration (``_name``, ``_name@N``, ``@name@N``, ``name@@N`` for
    __vectorcall) from a public's name.

    x64 and ARM64 have no C decoration: their names are kept exactly as the PDB has them
    (``__C_specific_handler`` stays ``__C_specific_handler``). C++ names (``?...``) are left for
    the demangler.
    """
    if not is_x86 or name.startswith("?"):
        return name
    for pattern in (_X86_STDCALL, _X86_FASTCALL, _X86_VECTORCALL):
        m = pattern.match(name)
        if m:
            return m.group("name")
    return name[1:] if name.startswith("_") else name


def display_name(name: str, is_public: bool, is_x86: bool) -> str:
    """What we print for a record: procedures as recorded (demangled where the compiler stored
    a mangled name), publics undecorated and demangled."""
    if name.startswith("?"):
        return demangle(name)
    return undecorate_c(name, is_x86) if is_public else name


def demangle(name: str) -> str:
    """An MSVC C++ public name, demangled as llvm-symbolizer does (LLVM's own demangler, through
    ``llvm-demangle-fxti``, without access specifier, calling convention, return type or member
    type); the raw name when that package is missing or the name does not parse."""
    try:
        import llvmdemangle
    except ImportError:
        return name
    flags = (llvmdemangle.MSDF_NO_ACCESS_SPECIFIER | llvmdemangle.MSDF_NO_CALLING_CONVENTION
             | llvmdemangle.MSDF_NO_RETURN_TYPE | llvmdemangle.MSDF_NO_MEMBER_TYPE)
    try:
        got = llvmdemangle.microsoft_demangle(name, flags=flags)
    except Exception:  # a name the demangler rejects: keep it as the PDB spells it
        return name
    return got[0] if got else name


# -- reading ---------------------------------------------------------------------------------

class _Msf:
    """The streams of an MSF 7.00 file, read whole into memory on demand."""

    def __init__(self, data: bytes) -> None:
        if len(data) < SUPERBLOCK.sizeof() or not data.startswith(MSF_MAGIC):
            raise CorruptInput("not an MSF 7.00 PDB")
        sb = SUPERBLOCK.parse(data)
        bs = sb.block_size
        if bs not in (512, 1024, 2048, 4096) or sb.num_blocks * bs > len(data) + bs:
            raise CorruptInput("PDB superblock is inconsistent")
        self.data, self.block_size = data, bs
        n_dir_blocks = -(-sb.num_directory_bytes // bs)
        map_at = sb.block_map_addr * bs
        dir_blocks = struct.unpack_from(f"<{n_dir_blocks}I", data, map_at)
        directory = self._gather(dir_blocks, sb.num_directory_bytes)
        (count,) = struct.unpack_from("<I", directory, 0)
        if 4 + 4 * count > len(directory):
            raise CorruptInput("PDB stream directory is truncated")
        sizes = struct.unpack_from(f"<{count}I", directory, 4)
        pos = 4 + 4 * count
        self.streams: List[Tuple[int, Tuple[int, ...]]] = []
        for size in sizes:
            n = 0 if size == _NIL else -(-size // bs)
            if pos + 4 * n > len(directory):
                raise CorruptInput("PDB stream directory is truncated")
            self.streams.append((0 if size == _NIL else size,
                                 struct.unpack_from(f"<{n}I", directory, pos)))
            pos += 4 * n

    def _gather(self, blocks: Sequence[int], size: int) -> bytes:
        bs = self.block_size
        parts = []
        for b in blocks:
            if (b + 1) * bs > len(self.data) + bs:
                raise CorruptInput("PDB block index out of range")
            parts.append(self.data[b * bs:(b + 1) * bs])
        out = b"".join(parts)[:size]
        if len(out) < size:
            raise CorruptInput("PDB stream is truncated")
        return out

    def stream(self, index: int) -> bytes:
        if index == 0xFFFF or index >= len(self.streams):
            return b""
        size, blocks = self.streams[index]
        return self._gather(blocks, size)


def _cstring(data: bytes, pos: int) -> Tuple[str, int]:
    end = data.find(b"\0", pos)
    if end < 0:
        end = len(data)
    return data[pos:end].decode("utf-8", errors="replace"), end + 1


def _records(data: bytes, start: int, end: int) -> Iterator[Tuple[int, int, int]]:
    """(kind, payload offset, record end) of each CodeView symbol record in data[start:end]."""
    pos = start
    end = min(end, len(data))
    while pos + 4 <= end:
        length, kind = struct.unpack_from("<HH", data, pos)
        if length < 2:
            break
        yield kind, pos + 4, min(pos + 2 + length, end)
        pos += 2 + length


def read_pdb_records(path: Path) -> PdbRecords:
    """Procedures, thunks and publics of the PDB at ``path`` (see the module docstring)."""
    msf = _Msf(Path(path).read_bytes())
    dbi = msf.stream(3)
    if len(dbi) < DBI_HEADER.sizeof():
        raise CorruptInput("PDB has no DBI stream")
    hdr = DBI_HEADER.parse(dbi)
    pos = DBI_HEADER.sizeof()
    mod_end = pos + max(hdr.mod_info_size, 0)
    dbg_at = (mod_end + max(hdr.section_contribution_size, 0) + max(hdr.section_map_size, 0)
              + max(hdr.source_info_size, 0) + max(hdr.type_server_map_size, 0)
              + max(hdr.ec_substream_size, 0))
    dbg = dbi[dbg_at:dbg_at + max(hdr.optional_dbg_header_size, 0)]
    dbg_streams = struct.unpack_from(f"<{len(dbg) // 2}H", dbg) if dbg else ()

    def dbg_stream(i: int) -> int:
        return dbg_streams[i] if i < len(dbg_streams) else 0xFFFF

    sections: List[int] = []
    headers = msf.stream(dbg_stream(_DBG_SECTION_HDR))
    for off in range(0, len(headers) - 39, 40):       # IMAGE_SECTION_HEADER: VirtualAddress at +12
        sections.append(struct.unpack_from("<I", headers, off + 12)[0])
    found: List[Tuple[int, int, int, str]] = []       # rva, size, kind, name
    if not sections or msf.stream(dbg_stream(_DBG_OMAP_FROM_SRC)):
        return _sorted(found, hdr.machine)

    def rva_of(segment: int, offset: int) -> Optional[int]:
        return sections[segment - 1] + offset if 1 <= segment <= len(sections) else None

    fixed = MOD_INFO_FIXED.sizeof()
    while pos + fixed <= mod_end:
        info = MOD_INFO_FIXED.parse(dbi[pos:pos + fixed])
        _, pos = _cstring(dbi, pos + fixed)
        _, pos = _cstring(dbi, pos)
        pos = (pos + 3) & ~3
        syms = msf.stream(info.module_sym_stream)
        for kind, at, rec_end in _records(syms, 4, info.sym_byte_size):
            if kind in _PROCS and at + 35 <= rec_end:
                code_size, = struct.unpack_from("<I", syms, at + 12)
                offset, segment = struct.unpack_from("<IH", syms, at + 28)
                name, _ = _cstring(syms[:rec_end], at + 35)
            elif kind == S_THUNK32 and at + 21 <= rec_end:
                offset, segment, code_size = struct.unpack_from("<IHH", syms, at + 12)
                name, _ = _cstring(syms[:rec_end], at + 21)
            else:
                continue
            rva = rva_of(segment, offset)
            if rva is not None and name:
                found.append((rva, code_size, 0, name))
    records = msf.stream(hdr.sym_record_stream)
    for offset in _address_map(msf.stream(hdr.public_stream_index), records):
        kind, at, rec_end = next(_records(records, offset, len(records)), (0, 0, 0))
        if kind == S_PUB32 and at + 10 <= rec_end:
            _flags, off, segment = struct.unpack_from("<IIH", records, at)
            rva = rva_of(segment, off)
            name, _ = _cstring(records[:rec_end], at + 10)
            if rva is not None and name:
                found.append((rva, 0, 1, name))
    return _sorted(found, hdr.machine)


def _address_map(publics: bytes, records: bytes) -> List[int]:
    """Offsets of the S_PUB32 records in the order of the publics stream's address map (by
    segment:offset; its order among equal addresses is the one llvm-symbolizer answers with),
    or in record-stream order when the map is unreadable."""
    if len(publics) >= 28:
        sym_hash, addr_map = struct.unpack_from("<II", publics, 0)
        at = 28 + sym_hash                       # PublicsStreamHeader, then the GSI hash table
        if addr_map % 4 == 0 and at + addr_map <= len(publics):
            offsets = list(struct.unpack_from(f"<{addr_map // 4}I", publics, at))
            if all(o + 4 <= len(records) for o in offsets):
                return offsets
    return [pos - 4 for kind, pos, _ in _records(records, 0, len(records)) if kind == S_PUB32]


def _sorted(found: List[Tuple[int, int, int, str]], machine: int) -> PdbRecords:
    """Records by RVA, procedures before publics at one address (``nearest`` relies on it)."""
    found.sort(key=lambda rec: (rec[0], rec[2]))     # stable: the address map's order stays
    return PdbRecords(np.array([r[0] for r in found], dtype=np.uint32),
                      np.array([r[1] for r in found], dtype=np.uint32),
                      np.array([r[2] for r in found], dtype=np.uint8),
                      tuple(r[3] for r in found), machine)


def load_pdb_records(pdb: Path, cache: Optional[Path]) -> PdbRecords:
    """The records of ``pdb``, from ``cache`` (an .npz path) when it is there, else read and
    saved there; empty when the PDB cannot be read (the SymCache's answers stand alone then)."""
    if cache is not None and cache.is_file():
        got = PdbRecords.load(cache)
        if got is not None:
            return got
    try:
        records = read_pdb_records(pdb)
    except (CorruptInput, OSError, struct.error):
        records = _sorted([], 0)                  # saved too: the next walk does not retry
    if cache is not None:
        try:
            records.save(cache)
        except OSError:
            pass
    return records


__all__ = ["PdbRecords", "read_pdb_records", "load_pdb_records", "undecorate_c", "display_name"]


# -- filling a SymCache's function table -----------------------------------------------------

def fix_names(names: Tuple[str, ...], entries: np.ndarray, records: PdbRecords) -> Tuple[str, ...]:
    """symbolic strips one leading underscore as if every name were x86 C-decorated; where the
    PDB's procedure at the same entry is that name with the underscore, take the PDB's."""
    return tuple(records.fix_name(name, entry) for name, entry in zip(names, entries.tolist()))


def fill_table(table: "FunctionTable", records: PdbRecords) -> "FunctionTable":
    """``table`` (a FunctionTable) with its holes answered from ``records``.

    Every range without a function (padding, functions the SymCache lacks), and the addresses
    before the first range, get the nearest preceding record as ``PdbRecords.nearest`` names
    it; those ranges have ``range_public`` set. Names the SymCache got wrong are fixed first
    (``fix_names``).
    """
    from toolkit.symbols.function_table import FunctionTable

    names = list(fix_names(table.func_names, table.func_entry, records))
    if not len(records):
        return FunctionTable(table.range_starts, table.range_func, table.range_line,
                             table.range_file, table.range_inlined, table.func_entry,
                             tuple(names), table.file_paths,
                             np.zeros(len(table.range_starts), dtype=bool))
    starts = table.range_starts.astype(np.int64)
    funcs = table.range_func.astype(np.int64)
    bounds = np.append(starts, np.int64(1) << 33)
    holes = [(0, int(starts[0]) if len(starts) else 1 << 33)]
    holes += [(int(bounds[i]), int(bounds[i + 1])) for i in np.flatnonzero(funcs < 0).tolist()]
    rec_rva = records.rva.astype(np.int64)
    entry_of: Dict[Tuple[str, int], int] = {}
    new_starts: List[int] = []
    new_funcs: List[int] = []
    for lo, hi in holes:
        if hi <= lo:
            continue
        # The answer changes inside the hole only where a record starts, and one byte later
        # (publics sharing an address: ``nearest`` names another one past an exact hit).
        first, last = np.searchsorted(rec_rva, [lo, hi], side="left")
        starts_here = {lo} | set(rec_rva[first:last].tolist())
        cuts = starts_here | {x + 1 for x in starts_here if x + 1 < hi}
        for cut in sorted(cuts):
            got = records.nearest(cut)
            if got is None:
                new_starts.append(cut)
                new_funcs.append(-1)
                continue
            name, entry, _ = got
            key = (name, entry)
            if key not in entry_of:
                entry_of[key] = len(names)
                names.append(name)
            new_starts.append(cut)
            new_funcs.append(entry_of[key])
    keep = funcs >= 0
    all_starts = np.concatenate([starts[keep], np.array(new_starts, dtype=np.int64)])
    order = np.argsort(all_starts, kind="stable")
    n_new = len(new_starts)

    def merged(old: np.ndarray, fill: object, dtype: type) -> np.ndarray:
        return np.concatenate([old[keep], np.full(n_new, fill, dtype=dtype)]).astype(dtype)[order]

    extra_entries = np.zeros(len(names) - len(table.func_names), dtype=np.uint32)
    for (name, entry), idx in entry_of.items():
        extra_entries[idx - len(table.func_names)] = entry
    return FunctionTable(
        range_starts=all_starts[order].astype(np.uint32),
        range_func=np.concatenate([funcs[keep], np.array(new_funcs, dtype=np.int64)])
        .astype(np.int32)[order],
        range_line=merged(table.range_line, 0, np.uint32),
        range_file=merged(table.range_file, -1, np.int32),
        range_inlined=merged(table.range_inlined, False, bool),
        func_entry=np.concatenate([table.func_entry, extra_entries]).astype(np.uint32),
        func_names=tuple(names), file_paths=table.file_paths,
        range_public=np.concatenate([np.zeros(int(keep.sum()), dtype=bool),
                                     np.ones(n_new, dtype=bool)])[order])
