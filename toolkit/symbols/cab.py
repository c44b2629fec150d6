"""Expanding compressed symbol files (``name.pd_``, ``name.dl_``): single-file CAB archives.

symstore ``/compress`` and Microsoft's public server store CABs. Uncompressed and MSZIP ones are
expanded here, block by block with zlib; LZX ones (what the public server mostly serves) go to
``cabextract`` (libmspack) when it is on PATH. When nothing can open a file we say so.

Why our own MSZIP reader rather than ``cabarchive``: cabarchive inflates a whole folder in memory
before anything can look at its size, so a 5.8 MB ``.pd_`` whose headers lie reached 8.2 GB. Here
at most one 32 KB block is in memory, and both expanders stop at the cap: the smaller of the
caller's byte cap and the size the CAB's own headers declare (no honest CAB expands past that).
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

from toolkit.symbols.cache import discard, temp_file

COMPRESSION_NAMES = {0: "none", 1: "MSZIP", 2: "Quantum", 3: "LZX"}
_CFDATA_MAX = 32768  # uncompressed bytes per CFDATA block (MS-CAB 2.4)


class CabError(Exception):
    """A compressed symbol file could not be expanded; ``code`` is the Problem code to report."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


def cab_info(data: bytes) -> Tuple[int, int, int]:
    """``(compression type, total uncompressed file bytes, CFDATA block count)`` from the headers.

    Only the headers are read, so a size cap can be applied before anything is decompressed.
    """
    try:
        sig, cb_cabinet, coff_files, minor, major, c_folders, c_files, flags = struct.unpack_from(
            "<4s4xI4xI4xBBHHH", data, 0)
        if sig != b"MSCF":
            raise CabError("cab-corrupt", "not a CAB file (no MSCF signature)")
        offset = 36
        reserve_folder = 0
        if flags & 0x0004:
            cb_header, reserve_folder, _cb_data = struct.unpack_from("<HBB", data, offset)
            offset += 4 + cb_header
        compression, blocks = None, 0
        for _ in range(c_folders):
            _start, n_data, type_compress = struct.unpack_from("<IHH", data, offset)
            offset += 8 + reserve_folder
            blocks += n_data
            kind = type_compress & 0x000F
            compression = kind if compression is None else max(compression, kind)
        total = 0
        off = coff_files
        for _ in range(c_files):
            (cb_file,) = struct.unpack_from("<I", data, off)
            total += cb_file
            end = data.index(b"\x00", off + 16)
            off = end + 1
    except (struct.error, ValueError) as exc:
        raise CabError("cab-corrupt", f"CAB headers are truncated or malformed ({exc})")
    return (compression if compression is not None else 0), total, blocks


def expand(src: Path, dest_dir: Path, max_bytes: int, timeout: float = 120.0) -> Path:
    """Expand the (single) file in CAB ``src`` into a temp file in ``dest_dir`` and return it.

    The caller verifies and publishes (or discards) the temp file.
    """
    with open(src, "rb") as fh:
        headers = fh.read(_HEADER_READ)
    layout = _layout(headers, src.name)
    if layout.size > max_bytes or layout.blocks * _CFDATA_MAX > max_bytes + _CFDATA_MAX:
        raise CabError("download-too-large",
                       f"{src.name} expands to {layout.size} bytes, over the {max_bytes}-byte cap")
    packed_size = src.stat().st_size
    if layout.size > _RATIO_EXEMPT and layout.size > MAX_RATIO * packed_size:
        raise CabError("download-too-large",
                       f"{src.name} declares {layout.size} bytes from {packed_size} "
                       f"(over {MAX_RATIO}:1): refused as a decompression bomb")
    cap = min(max_bytes, layout.offset + layout.size)
    if layout.compression in (0, 1):
        return _expand_blocks(src, layout, dest_dir, cap)
    exe = shutil.which("cabextract")
    if exe is not None:
        return _expand_cabextract(exe, src, dest_dir, cap, timeout)
    method = COMPRESSION_NAMES.get(layout.compression, hex(layout.compression))
    raise CabError("cab-unsupported", f"cannot expand {src.name} ({method}-compressed CAB): "
                   "put 'cabextract' on PATH (apt install cabextract)")


#: Expanded/compressed beyond which a CAB is refused from its headers alone. Real PDBs measured
#: here: median 5.7:1, at most 66:1 (a near-empty 86 KB PDB); MSZIP of zeros reaches ~1000:1.
MAX_RATIO = 200
#: Files expanding to no more than this are not ratio-checked (tiny PDBs are mostly empty pages).
_RATIO_EXEMPT = 16 * 1024 * 1024

#: Enough of the file for the headers of a single-file CAB (names are at most 256 bytes).
_HEADER_READ = 64 * 1024


@dataclass(frozen=True)
class _Layout:
    """Where the one file of a single-folder CAB lives."""

    compression: int
    size: int              # cbFile: the expanded file's size
    offset: int            # uoffFolderStart: where it starts in the folder's expanded stream
    blocks: int            # cCFData
    data_start: int        # coffCabStart: the first CFDATA block
    data_reserve: int      # cbCFData: reserved bytes in every CFDATA header


def _layout(data: bytes, name: str) -> _Layout:
    compression, total, blocks = cab_info(data)
    try:
        coff_files, c_folders, c_files, flags = struct.unpack_from("<16xI6xHHH", data, 0)
        if flags & 0x0003:
            raise CabError("cab-corrupt", f"{name} is part of a multi-cabinet set")
        if c_folders != 1 or c_files != 1:
            raise CabError("cab-corrupt", f"CAB holds {c_files} files in {c_folders} folders, "
                           "expected exactly one")
        offset, reserve_folder, reserve_data = 36, 0, 0
        if flags & 0x0004:
            cb_header, reserve_folder, reserve_data = struct.unpack_from("<HBB", data, offset)
            offset += 4 + cb_header
        data_start, _n, _type = struct.unpack_from("<IHH", data, offset)
        _size, folder_offset, folder = struct.unpack_from("<IIH", data, coff_files)
    except struct.error as exc:
        raise CabError("cab-corrupt", f"CAB headers are truncated or malformed ({exc})")
    if folder != 0:
        raise CabError("cab-corrupt", f"{name}: its file names folder {folder}, not 0")
    return _Layout(compression, total, folder_offset, blocks, data_start, reserve_data)


def _expand_blocks(src: Path, layout: _Layout, dest_dir: Path, cap: int) -> Path:
    """Stored or MSZIP CFDATA blocks, one at a time; nothing is inflated past ``cap`` bytes.

    MSZIP (MS-MCI): every block is ``CK`` + a deflate stream of at most 32 KB whose dictionary is
    the previous block's output; a block that inflates past its declared cbUncomp is corrupt.
    """
    tmp = temp_file(dest_dir)
    ok = False
    try:
        with open(src, "rb") as fh, open(tmp, "wb") as out:
            fh.seek(layout.data_start)
            produced, history = 0, b""
            skip, want = layout.offset, layout.size
            for index in range(layout.blocks):
                if produced >= layout.offset + layout.size:
                    break
                head = fh.read(8 + layout.data_reserve)
                if len(head) < 8:
                    raise CabError("cab-corrupt", f"{src.name}: CFDATA block {index} is truncated")
                cb_data, cb_uncomp = struct.unpack_from("<HH", head, 4)
                packed = fh.read(cb_data)
                if len(packed) < cb_data or cb_uncomp > _CFDATA_MAX:
                    raise CabError("cab-corrupt", f"{src.name}: CFDATA block {index} is malformed")
                block = _inflate(packed, cb_uncomp, history, src.name, index) \
                    if layout.compression == 1 else packed
                if len(block) != cb_uncomp:
                    raise CabError("cab-corrupt", f"{src.name}: CFDATA block {index} holds "
                                   f"{len(block)} bytes, its header says {cb_uncomp}")
                produced += len(block)
                if produced > cap + _CFDATA_MAX:    # the loop stops at the file's end before
                    raise CabError("download-too-large",
                                   f"{src.name} expands past the {cap}-byte cap")
                history = (history + block)[-_CFDATA_MAX:]
                piece = block[skip:] if skip else block
                skip = max(0, skip - len(block))
                piece = piece[:want]
                want -= len(piece)
                out.write(piece)
        if want:
            raise CabError("cab-corrupt", f"{src.name}: the CAB ends {want} bytes short of its file")
        ok = True
        return tmp
    finally:
        if not ok:
            discard(tmp)


def _inflate(packed: bytes, size: int, history: bytes, name: str, index: int) -> bytes:
    if packed[:2] != b"CK":
        raise CabError("cab-corrupt", f"{name}: MSZIP block {index} lacks its CK signature")
    inflater = zlib.decompressobj(-15, zdict=history) if history else zlib.decompressobj(-15)
    try:
        # One byte over the declared size is enough to know the block lies.
        return inflater.decompress(packed[2:], size + 1)
    except zlib.error as exc:
        raise CabError("cab-corrupt", f"{name}: MSZIP block {index} is corrupt ({exc})")


def _expand_cabextract(exe: str, src: Path, dest_dir: Path, max_bytes: int,
                       timeout: float) -> Path:
    """``cabextract -p`` streams the content to stdout; we copy it with the same size cap."""
    tmp = temp_file(dest_dir)
    ok = False
    try:
        with open(tmp, "wb") as out:
            proc = subprocess.Popen([exe, "-q", "-p", str(src)], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE)
            written = 0
            assert proc.stdout is not None
            while True:
                chunk = proc.stdout.read(1 << 16)
                if not chunk:
                    break
                written += len(chunk)
                if written > max_bytes:
                    proc.kill()
                    proc.wait()
                    raise CabError("download-too-large",
                                   f"{src.name} expands past the {max_bytes}-byte cap")
                out.write(chunk)
            try:
                _, err = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise CabError("cab-corrupt", f"cabextract did not finish on {src.name}")
        if proc.returncode != 0 or written == 0:
            detail = err.decode("utf-8", "replace").strip().splitlines()
            raise CabError("cab-corrupt", f"cabextract failed on {src.name}: "
                           f"{detail[-1] if detail else 'exit ' + str(proc.returncode)}")
        ok = True
        return tmp
    finally:
        if not ok:
            discard(tmp)


def compressed_name(name: str) -> Optional[str]:
    """``name.pdb`` -> ``name.pd_`` (symstore's spelling); ``None`` for names it cannot apply to."""
    if len(name) < 2 or "." not in name or name.endswith("_"):
        return None
    return name[:-1] + "_"


__all__ = ["CabError", "MAX_RATIO", "cab_info", "compressed_name", "expand"]
