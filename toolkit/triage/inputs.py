"""What ``dumpkit triage PATH...`` reads: files, directories (recursive), globs, ``@list.txt``,
archives of dumps (``.zip``, ``.tar`` and ``.tar.gz/.xz/.bz2/.zst``) and compressed dumps.

Every file is told by its magic bytes, never by its name. A plain or compressed dump becomes an
``Item`` analysed in place (``analyze`` decompresses under its cap); the dumps inside an archive
are first streamed, under the same cap, into a staging directory so that a worker, local or on a
cluster, opens a plain file. Anything else (PE images, PDBs, text, a missing path, an archive
that cannot be read) is ``Skipped`` with its reason: a pile of files never aborts the run.

Each item carries the SHA-256 of its bytes as found (an archive member's own bytes), which is
the store's key: a re-run skips what it has seen, and the same bytes twice are analysed once.
"""

from __future__ import annotations

import bz2
import glob
import gzip
import hashlib
import lzma
import os
import tarfile
import zipfile
from dataclasses import dataclass, field
from typing import IO, Any, Iterable, Iterator, List, Optional, Set, Tuple, Type

from toolkit.targets.compressed import compression_of, decompressed_limit

DUMP_MAGICS = (b"MDMP", b"PAGE")       # PAGE: kernel dumps, refused by analyze with the reason
HEAD = 512                              # enough for a tar header's "ustar" at offset 257
CHUNK = 1 << 20


@dataclass(frozen=True)
class Item:
    """One dump to analyse: ``path`` is the file a worker opens, ``name`` what reports show
    (the path, or ``archive.zip!member``)."""

    path: str
    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Skipped:
    name: str
    reason: str


@dataclass
class Inputs:
    items: List[Item] = field(default_factory=list)
    skipped: List[Skipped] = field(default_factory=list)


def collect(args: Iterable[str], staging_dir: str, *, limit: Optional[int] = None) -> Inputs:
    """Every dump named by ``args`` (in order, each once), and every other file as skipped.
    Archive members are written under ``staging_dir`` (which the caller removes)."""
    cap = decompressed_limit() if limit is None else limit
    out = Inputs()
    seen_files: Set[str] = set()
    seen_hashes: Set[str] = set()
    collector = _Collector(out, staging_dir, cap, seen_hashes)
    for path, missing in _expand(args):
        if missing:
            out.skipped.append(Skipped(path, missing))
            continue
        real = os.path.realpath(path)
        if real in seen_files:
            continue
        seen_files.add(real)
        collector.file(path)
    return out


def _expand(args: Iterable[str]) -> Iterator[Tuple[str, str]]:
    """(path, "") for every file the arguments name, or (argument, why) when one names none."""
    for arg in args:
        if arg.startswith("@") and len(arg) > 1:
            try:
                with open(arg[1:], "r", encoding="utf-8", errors="replace") as fh:
                    lines = [line.strip() for line in fh]
            except OSError as exc:
                yield arg, f"cannot read the list: {exc.strerror or exc}"
                continue
            yield from _expand(line for line in lines if line and not line.startswith("#"))
        elif os.path.isdir(arg):
            for root, dirs, files in os.walk(arg):
                dirs.sort()
                for name in sorted(files):
                    yield os.path.join(root, name), ""
        elif os.path.exists(arg):
            yield arg, ""
        elif glob.has_magic(arg):
            matches = sorted(glob.glob(arg, recursive=True))
            if not matches:
                yield arg, "no file matches the pattern"
            yield from _expand(matches)
        else:
            yield arg, "no such file or directory"


class _Collector:
    def __init__(self, out: Inputs, staging_dir: str, cap: int, seen: Set[str]) -> None:
        self.out, self.staging, self.cap, self.seen = out, staging_dir, cap, seen
        self.staged = 0

    def file(self, path: str) -> None:
        try:
            with open(path, "rb") as fh:
                head = fh.read(HEAD)
            kind = _kind(path, head)
            if kind == "dump":
                size = os.path.getsize(path)
                with open(path, "rb") as fh:
                    self._add(Item(path, path, size, _sha256(fh)))
            elif kind == "zip":
                self._zip(path)
            elif kind == "tar":
                self._tar(path)
            else:
                self.out.skipped.append(Skipped(path, kind))
        except OSError as exc:
            self.out.skipped.append(Skipped(path, f"cannot read: {exc.strerror or exc}"))
        except _ARCHIVE_ERRORS as exc:
            self.out.skipped.append(Skipped(path, f"damaged archive ({_one_line(exc)})"))

    def _add(self, item: Item) -> None:
        if item.sha256 in self.seen:
            self.out.skipped.append(Skipped(item.name, "the same bytes as another input"))
            return
        self.seen.add(item.sha256)
        self.out.items.append(item)

    def _zip(self, path: str) -> None:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                name = f"{path}!{info.filename}"
                try:
                    with archive.open(info) as member:
                        self._member(name, info.filename, member)
                except _ARCHIVE_ERRORS as exc:
                    self.out.skipped.append(Skipped(name, f"damaged member ({_one_line(exc)})"))

    def _tar(self, path: str) -> None:
        with open(path, "rb") as raw:
            stream = _decompressor(raw)
            with tarfile.open(fileobj=stream, mode="r|") as archive:
                for info in archive:
                    if not info.isfile():
                        continue
                    member = archive.extractfile(info)
                    if member is not None:
                        self._member(f"{path}!{info.name}", info.name, member)

    def _member(self, name: str, inner: str, member: IO[bytes]) -> None:
        head = member.read(len(DUMP_MAGICS[0]))
        if head not in DUMP_MAGICS:
            self.out.skipped.append(Skipped(name, _not_a_dump(head)))
            return
        self.staged += 1
        dest = os.path.join(self.staging, f"{self.staged:06d}-{os.path.basename(inner) or 'dump'}")
        digest = hashlib.sha256(head)
        size = len(head)
        with open(dest, "wb") as out:
            out.write(head)
            while True:
                chunk = member.read(CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > self.cap:
                    break
                digest.update(chunk)
                out.write(chunk)
        if size > self.cap:
            os.unlink(dest)
            self.out.skipped.append(Skipped(name, f"expands to more than {self.cap} bytes (the "
                                                  "cap; set DUMPKIT_MAX_DECOMPRESSED to raise it)"))
            return
        self._add(Item(dest, name, size, digest.hexdigest()))


def _kind(path: str, head: bytes) -> str:
    """"dump", "zip", "tar", or the reason the file is skipped."""
    if head[:4] in DUMP_MAGICS:
        return "dump"
    if _is_tar(head):
        return "tar"
    compression = compression_of(head)
    if compression == "zip":
        return "zip"
    if compression is not None:
        with open(path, "rb") as raw:
            inner = _decompressor(raw).read(HEAD)
        if inner[:4] in DUMP_MAGICS:
            return "dump"
        if _is_tar(inner):
            return "tar"
        return f"{compression}-compressed, not a dump"
    return _not_a_dump(head)


def _is_tar(head: bytes) -> bool:
    return head[257:262] == b"ustar"


def _not_a_dump(head: bytes) -> str:
    if head[:2] == b"MZ":
        return "not a dump (a PE image)"
    if head.startswith(b"Microsoft C/C++ MSF"):
        return "not a dump (a PDB)"
    if not head:
        return "not a dump (empty)"
    return "not a dump (no MDMP signature)"


def _decompressor(raw: IO[bytes]) -> Any:
    """A reader of ``raw``'s decompressed bytes (told by magic), or ``raw`` itself."""
    head = raw.read(8)
    raw.seek(0)
    kind = compression_of(head)
    if kind == "xz":
        return lzma.LZMAFile(raw)
    if kind == "gzip":
        return gzip.GzipFile(fileobj=raw)
    if kind == "bzip2":
        return bz2.BZ2File(raw)
    if kind == "zstd":
        import zstandard
        return zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
    return raw


def _sha256(fh: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while True:
        chunk = fh.read(CHUNK)
        if not chunk:
            return digest.hexdigest()
        digest.update(chunk)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _archive_errors() -> Tuple[Type[BaseException], ...]:
    errors: Tuple[Type[BaseException], ...] = (zipfile.BadZipFile, tarfile.TarError, lzma.LZMAError, EOFError,
                                gzip.BadGzipFile, NotImplementedError, RuntimeError, ValueError)
    try:
        import zstandard
        errors += (zstandard.ZstdError,)
    except ImportError:
        pass
    import zlib
    return errors + (zlib.error,)


_ARCHIVE_ERRORS = _archive_errors()

__all__ = ["Item", "Skipped", "Inputs", "collect"]
