"""Compressed dumps (``.xz``, ``.gz``, ``.zst``, a ``.zip`` holding one file), unpacked for
``open_target`` so every command reads them like plain dumps.

Why a temporary file and not bytes in memory: a full-memory dump unpacks to gigabytes; written to
disk it is mmap'd like any dump and costs page cache, not heap. The file is unlinked as soon as
the target has mapped it (POSIX keeps the mapping alive), so nothing is left behind.

Why a cap: a 1 MB archive can expand to terabytes (a "zip bomb"). Decompression stops with an
``InputError`` once ``limit`` bytes came out; the default is ``DEFAULT_LIMIT`` or the
``DUMPKIT_MAX_DECOMPRESSED`` environment variable (bytes). Formats are told apart by magic
bytes, never by the file name. Every decoder failure (truncated stream, bad CRC, encrypted or
multi-file zip) becomes one ``InputError`` line naming the archive.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import shutil
import tempfile
import zipfile
import zlib
from typing import IO, Any, Callable, Dict, Optional, Tuple, Type

from toolkit.model.errors import InputError

DEFAULT_LIMIT = 64 << 30          # 64 GiB: larger than any user-mode full dump we have met
CHUNK = 1 << 20

MAGICS: Tuple[Tuple[bytes, str], ...] = (
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x1f\x8b", "gzip"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"PK\x03\x04", "zip"),
    (b"BZh", "bzip2"),
)


def compression_of(head: bytes) -> Optional[str]:
    """The compression format whose magic starts ``head`` (``"xz"``, ``"gzip"``...), or None."""
    for magic, name in MAGICS:
        if head.startswith(magic):
            return name
    return None


def decompressed_limit() -> int:
    """The cap in bytes: ``$DUMPKIT_MAX_DECOMPRESSED`` when set to a number, else the default."""
    text = os.environ.get("DUMPKIT_MAX_DECOMPRESSED", "")
    return int(text) if text.isdigit() else DEFAULT_LIMIT


def _zstd_reader(fh: IO[bytes]) -> Any:
    import zstandard
    return zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True)


def _zip_member(path: str, fh: IO[bytes]) -> Tuple[Any, str]:
    archive = zipfile.ZipFile(fh)
    files = [i for i in archive.infolist() if not i.is_dir()]
    if len(files) != 1:
        raise InputError(f"{path}: the zip holds {len(files)} files; dumpkit opens a zip holding "
                         "one dump (use `dumpkit triage` for archives of many)")
    return archive.open(files[0]), files[0].filename


_READERS: Dict[str, Callable[[IO[bytes]], Any]] = {
    "xz": lambda fh: lzma.LZMAFile(fh),
    "gzip": lambda fh: gzip.GzipFile(fileobj=fh),
    "zstd": _zstd_reader,
    "bzip2": lambda fh: bz2.BZ2File(fh),
}

# What the decoders raise on damaged input (zstandard's error is looked up lazily).
_DECODE_ERRORS: Tuple[Type[BaseException], ...] = (lzma.LZMAError, zlib.error, EOFError, zipfile.BadZipFile,
                                    gzip.BadGzipFile, NotImplementedError, RuntimeError,
                                    ValueError)


def _decode_errors() -> Tuple[Type[BaseException], ...]:
    try:
        import zstandard
        return _DECODE_ERRORS + (zstandard.ZstdError,)
    except ImportError:
        return _DECODE_ERRORS


def unpack(path: str, kind: str, out_dir: str, *, limit: Optional[int] = None) -> str:
    """Decompress ``path`` (format ``kind``) into a new file under ``out_dir``; return its path.

    Raises InputError for a damaged archive or one that expands past ``limit`` bytes.
    """
    cap = decompressed_limit() if limit is None else limit
    member = os.path.basename(path)
    try:
        with open(path, "rb") as raw:
            if kind == "zip":
                stream, member = _zip_member(path, raw)
            elif kind in _READERS:
                stream = _READERS[kind](raw)
            else:
                raise InputError(f"{path}: {kind} compression is not supported")
            out = os.path.join(out_dir, os.path.basename(member) or "dump")
            with stream, open(out, "wb") as dst:
                _copy_capped(stream, dst, cap, path)
    except _decode_errors() as exc:
        raise InputError(f"{path}: damaged {kind} archive ({' '.join(str(exc).split()) or type(exc).__name__})") from None
    return out


def _copy_capped(src: IO[bytes], dst: IO[bytes], cap: int, path: str) -> None:
    written = 0
    while True:
        chunk = src.read(min(CHUNK, cap - written + 1))
        if not chunk:
            return
        written += len(chunk)
        if written > cap:
            raise InputError(f"{path}: decompresses to more than {cap} bytes (the cap; set "
                             "DUMPKIT_MAX_DECOMPRESSED to raise it)")
        dst.write(chunk)


class Unpacked:
    """A decompressed copy in a private temporary directory; ``close()`` removes it."""

    def __init__(self, path: str, kind: str, *, limit: Optional[int] = None) -> None:
        self.dir = tempfile.mkdtemp(prefix="dumpkit-unpacked-")
        try:
            self.path = unpack(path, kind, self.dir, limit=limit)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


__all__ = ["compression_of", "decompressed_limit", "unpack", "Unpacked", "DEFAULT_LIMIT"]
