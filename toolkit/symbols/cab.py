"""Expanding compressed symbol files (``name.pd_``, ``name.dl_``): single-file CAB archives.

symstore ``/compress`` and Microsoft's public server store CABs. MSZIP-compressed ones are
expanded with ``cabarchive`` (pure Python, fwupd's maintainer, PyPI); it has no LZX decoder, and
the public server mostly serves LZX, so those go to ``cabextract`` (libmspack) when it is on
PATH. When neither can open a file we say so, naming both, instead of failing obscurely.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
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
    data = src.read_bytes()
    compression, total, blocks = cab_info(data)
    if total > max_bytes or blocks * _CFDATA_MAX > max_bytes + _CFDATA_MAX:
        raise CabError("download-too-large",
                       f"{src.name} expands to {total} bytes, over the {max_bytes}-byte cap")
    if compression in (0, 1):
        try:
            return _expand_cabarchive(data, dest_dir)
        except ImportError:
            pass
    exe = shutil.which("cabextract")
    if exe is not None:
        return _expand_cabextract(exe, src, dest_dir, max_bytes, timeout)
    method = COMPRESSION_NAMES.get(compression, hex(compression))
    need = ("install the Python package 'cabarchive' or put 'cabextract' on PATH"
            if compression in (0, 1) else "put 'cabextract' on PATH (cabarchive cannot read LZX)")
    raise CabError("cab-unsupported",
                   f"cannot expand {src.name} ({method}-compressed CAB): {need}")


def _expand_cabarchive(data: bytes, dest_dir: Path) -> Path:
    import cabarchive  # optional dependency; ImportError tells expand() to try cabextract

    try:
        archive = cabarchive.CabArchive(data)
        files = list(archive.values())
    except Exception as exc:  # cabarchive raises CorruptionError/NotSupportedError/AssertionError
        raise CabError("cab-corrupt", f"CAB could not be expanded: {exc or type(exc).__name__}")
    if len(files) != 1:
        raise CabError("cab-corrupt", f"CAB holds {len(files)} files, expected exactly one")
    tmp = temp_file(dest_dir)
    try:
        tmp.write_bytes(bytes(files[0].buf or b""))
    except OSError:
        discard(tmp)
        raise
    return tmp


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


__all__ = ["CabError", "cab_info", "compressed_name", "expand"]
