"""The symbol path, in WinDbg's ``_NT_SYMBOL_PATH`` syntax, parsed into ordered store elements.

Accepted (``;``-separated, tried left to right, empty elements ignored):

=================================  ============================================================
``C:\\symbols`` / ``/srv/syms``     a local store: flat files, symbol-store or Breakpad layout
``srv*URL``                        symbol server, downloads into the default cache
``srv*CACHE*URL``                  symbol server with an explicit download cache
``srv*C1*C2*URL``                  chained caches: all are searched, downloads land in ``C1``
``symsrv*symsrv.dll*…``            the long spelling of ``srv*…``
``cache*DIR``                      ``DIR`` is searched here and caches the ``srv`` elements after
                                   it that name no cache of their own (``cache*`` alone: default)
``srv*CACHE*\\\\share\\syms``         a server that is a directory: searched like a local store
=================================  ============================================================

Elements are plain dataclasses; the locator decides how to search each one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

from toolkit.symbols.cache import default_cache_dir

ENV_SYMBOL_PATH = "_NT_SYMBOL_PATH"


@dataclass(frozen=True)
class LocalStore:
    """A directory searched in place (flat, symbol-store, two-tier or Breakpad layout)."""

    path: Path
    #: A download cache named by ``cache*DIR`` or ``srv*CACHE*``: it may not exist yet.
    is_cache: bool = field(default=False, compare=False)

    def describe(self) -> str:
        return str(self.path)


@dataclass(frozen=True)
class HttpServer:
    """A symbol server reached over HTTP(S); ``cache`` receives downloads, all caches are searched."""

    url: str
    cache: Path
    extra_caches: Tuple[Path, ...] = ()

    @property
    def caches(self) -> Tuple[Path, ...]:
        return (self.cache,) + tuple(self.extra_caches)

    def describe(self) -> str:
        return "srv*" + "*".join(str(c) for c in self.caches) + "*" + self.url


Element = Union[LocalStore, HttpServer]


def _is_url(text: str) -> bool:
    low = text.lower()
    return low.startswith("http://") or low.startswith("https://")


def _dir(text: str) -> Path:
    return Path(os.path.expanduser(os.path.expandvars(text.strip())))


@dataclass(frozen=True)
class SymbolPath:
    """An ordered list of places to look for symbol files."""

    elements: Tuple[Element, ...] = ()
    text: str = ""
    ignored: Tuple[str, ...] = field(default=(), compare=False)
    #: The cache used where the text names none (also where local ``.pd_`` files are expanded).
    default_cache: Optional[Path] = field(default=None, compare=False)

    @classmethod
    def parse(cls, text: str, default_cache: Optional[Path] = None) -> "SymbolPath":
        """Parse WinDbg syntax; unusable elements are kept in ``ignored`` (never raises)."""
        default = default_cache if default_cache is not None else default_cache_dir()
        elements: List[Element] = []
        ignored: List[str] = []
        pending_cache: Optional[Path] = None  # set by cache*DIR, applies to what follows
        for raw in (text or "").split(";"):
            item = raw.strip()
            if not item:
                continue
            parts = [p.strip() for p in item.split("*")]
            head = parts[0].lower()
            if head == "cache":
                cache = _dir(parts[1]) if len(parts) > 1 and parts[1] else default
                pending_cache = cache
                _append(elements, LocalStore(cache, is_cache=True))
                continue
            if head in ("srv", "symsrv"):
                rest = parts[1:]
                if head == "symsrv":
                    rest = rest[1:]  # symsrv*symsrv.dll*...: the DLL name is not a location
                _parse_srv(rest, pending_cache or default, elements, ignored, item)
                continue
            if "*" in item:
                ignored.append(item)  # e.g. a third-party symsrv DLL syntax we do not speak
                continue
            if _is_url(item):
                # WinDbg ignores a bare URL; we read it as srv*URL rather than failing silently.
                _append(elements, HttpServer(item.rstrip("/"), pending_cache or default))
                continue
            _append(elements, LocalStore(_dir(item)))
        return cls(tuple(elements), text or "", tuple(ignored), default)

    @classmethod
    def from_env_or(cls, option: Optional[str], default_cache: Optional[Path] = None) -> "SymbolPath":
        """``option`` if given (even empty), else ``_NT_SYMBOL_PATH``, else an empty path."""
        if option is not None:
            return cls.parse(option, default_cache)
        return cls.parse(os.environ.get(ENV_SYMBOL_PATH, ""), default_cache)

    @property
    def local_stores(self) -> Tuple[LocalStore, ...]:
        return tuple(e for e in self.elements if isinstance(e, LocalStore))

    @property
    def servers(self) -> Tuple[HttpServer, ...]:
        return tuple(e for e in self.elements if isinstance(e, HttpServer))

    def __bool__(self) -> bool:
        return bool(self.elements)

    def describe(self) -> str:
        return ";".join(e.describe() for e in self.elements)


def _append(elements: List[Element], element: Element) -> None:
    if element not in elements:
        elements.append(element)


def _parse_srv(rest: Sequence[str], cache: Path, elements: List[Element],
               ignored: List[str], item: str) -> None:
    """``rest`` is what follows ``srv``: zero or more caches, then the upstream (URL or dir)."""
    rest = [p for p in rest]
    if not rest or not rest[-1]:
        if len(rest) > 1 and any(rest[:-1]):
            # srv*CACHE* (no upstream): WinDbg searches the cache only.
            _append(elements, LocalStore(_dir(next(p for p in rest if p)), is_cache=True))
        else:
            ignored.append(item)
        return
    upstream = rest[-1]
    caches = [_dir(p) for p in rest[:-1] if p]
    if not caches:
        caches = [cache]
    if _is_url(upstream):
        _append(elements, HttpServer(upstream.rstrip("/"), caches[0], tuple(caches[1:])))
        return
    # A server that is a directory (UNC share, mounted store): search the caches, then it.
    for c in caches:
        _append(elements, LocalStore(c, is_cache=True))
    _append(elements, LocalStore(_dir(upstream)))


__all__ = ["ENV_SYMBOL_PATH", "Element", "HttpServer", "LocalStore", "SymbolPath", "default_cache_dir"]
