"""Downloading symbol files from one HTTP symbol server into its cache, the way symsrv does.

For ``name``/``id`` the server is asked, in order, for ``name/id/name`` (e.g. ``x.pdb``), the
compressed ``name/id/name.pd_``, a Breakpad ``name/id/stem.sym`` when ``.sym`` is wanted, and
``name/id/file.ptr``. Every download:

* is streamed into a temp file in the cache's id directory, stopped past ``max_bytes`` (checked
  on Content-Length first) and rejected when shorter than its Content-Length;
* is expanded if it is a CAB, then verified to carry the wanted id, and only then renamed onto
  its final name (so a corrupt or wrong-GUID file is deleted and reported, never cached);
* is retried with exponential backoff on 5xx and connection errors (bounded), not on timeouts.

A server that times out or cannot be reached is marked down for the rest of the run: one
Problem, not one per module. When every form got a 404 the miss is remembered (see
``cache.NegativeCache``) so the next run does not ask again. The standard library's urllib is
enough here (streaming, timeouts, redirects, proxies from the environment); no extra dependency.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Callable, Optional, Sequence, Tuple

from toolkit import __version__
from toolkit.symbols.cab import CabError, expand
from toolkit.symbols.cache import NegativeCache, discard, publish, temp_file
from toolkit.symbols.safe_names import contained
from toolkit.symbols.stores import FILE_PTR, file_names, sym_name
from toolkit.symbols.symbol_path import HttpServer
from toolkit.model.target import Problem

DEFAULT_TIMEOUT = 20.0
DEFAULT_MAX_BYTES = 2 * 1024 ** 3  # the largest public PDBs (chrome.dll.pdb) are ~1-2 GiB
DEFAULT_RETRIES = 2
USER_AGENT = f"dumpkit/{__version__}"

#: ``check(path, kind) -> (ok, reason)``: does the file at ``path`` carry the wanted id?
Checker = Callable[[Path, str], Tuple[bool, str]]


class _Miss(Exception):
    """404/410: the server does not have this URL."""


class _Failed(Exception):
    """The request failed in a way that is not a miss (already reported)."""


class _Down(Exception):
    """The server timed out or is unreachable (already reported, server marked down)."""


class SymbolServerClient:
    """Fetches verified files from one ``HttpServer`` into ``server.cache``."""

    def __init__(self, server: HttpServer, report: Callable[[Problem], None], *,
                 timeout: float = DEFAULT_TIMEOUT, max_bytes: int = DEFAULT_MAX_BYTES,
                 user_agent: str = USER_AGENT, retries: int = DEFAULT_RETRIES,
                 backoff: float = 0.25, negative: Optional[NegativeCache] = None) -> None:
        self.server = server
        self.report = report
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.user_agent = user_agent
        self.retries = max(0, retries)
        self.backoff = backoff
        self.negative = negative if negative is not None else NegativeCache()
        self.down = False
        self._lock = threading.Lock()
        self._opener = urllib.request.build_opener()

    # -- public ---------------------------------------------------------------------------------

    def fetch(self, name: str, file_id: str, kinds: Sequence[str],
              check: Checker) -> Optional[Tuple[Path, str]]:
        """Download, verify and cache ``name``/``file_id``; ``(path, kind)`` or ``None``.

        ``name`` and ``file_id`` must already be safe (``safe_names``); the id directory is
        checked once more to lie inside the cache.
        """
        if self.down:
            return None
        id_dir = contained(self.server.cache, name, file_id)
        if id_dir is None:
            self.report(Problem("unsafe-name", f"refused to cache {name!r}/{file_id!r}: "
                                "the path would leave the cache"))
            return None
        if self.negative.is_fresh_miss(id_dir, self.server.url):
            return None
        all_missing = True
        for kind in kinds:
            for fname, packed in file_names(name, kind):
                try:
                    got = self._fetch_one(self._url(name, file_id, fname), id_dir, name, kind,
                                          packed, check)
                except _Miss:
                    continue
                except _Failed:
                    all_missing = False
                    continue
                except _Down:
                    return None
                if got is not None:
                    return got, kind
                all_missing = False
        try:
            got2 = self._fetch_ptr(name, file_id, id_dir, kinds, check)
        except _Miss:
            got2 = None
        except _Failed:
            got2, all_missing = None, False
        except _Down:
            return None
        if got2 is not None:
            return got2
        if all_missing:
            self.negative.record_miss(id_dir, self.server.url)
        return None

    # -- one file -------------------------------------------------------------------------------

    def _url(self, name: str, file_id: str, fname: str) -> str:
        q = urllib.parse.quote
        return f"{self.server.url}/{q(name, safe='')}/{q(file_id, safe='')}/{q(fname, safe='')}"

    def _fetch_one(self, url: str, id_dir: Path, name: str, kind: str, packed: bool,
                   check: Checker) -> Optional[Path]:
        """Download ``url``; return the published path, ``None`` if rejected; raise on miss."""
        tmp = self._download(url, id_dir)
        expanded: Optional[Path] = None
        try:
            if packed:
                try:
                    expanded = expand(tmp, id_dir, self.max_bytes)
                except CabError as exc:
                    self.report(Problem(exc.code, f"{url}: {exc}"))
                    return None
                discard(tmp)
                tmp, expanded = expanded, None
            ok, reason = check(tmp, kind)
            if not ok:
                self.report(Problem("corrupt-download",
                                    f"{url}: rejected ({reason}); not cached"))
                return None
            final_name = sym_name(name) if kind == "sym" else name
            dest = contained(id_dir, final_name)
            if dest is None:
                return None
            publish(tmp, dest)
            tmp = None  # type: ignore[assignment]
            return dest
        finally:
            discard(tmp)
            discard(expanded)

    def _fetch_ptr(self, name: str, file_id: str, id_dir: Path, kinds: Sequence[str],
                   check: Checker) -> Optional[Tuple[Path, str]]:
        """``file.ptr`` on a server may redirect to another http(s) URL; local paths are refused."""
        url = self._url(name, file_id, FILE_PTR)
        tmp = self._download(url, id_dir, cap=4096)
        try:
            text = tmp.read_bytes().decode("utf-8", "replace").strip()
        finally:
            discard(tmp)
        target = text[5:].strip() if text.upper().startswith("PATH:") else text
        if not target.lower().startswith(("http://", "https://")):
            self.report(Problem("file-ptr-ignored", f"{url} points to {target[:200]!r}, which is "
                                "not an http(s) URL; a server may not name local files"))
            raise _Failed()
        kind = "sym" if target.lower().endswith(".sym") else kinds[0]
        got = self._fetch_one(target, id_dir, name, kind, target.endswith("_"), check)
        return (got, kind) if got is not None else None

    # -- transport ------------------------------------------------------------------------------

    def _download(self, url: str, id_dir: Path, cap: Optional[int] = None) -> Path:
        """GET ``url`` into a temp file in ``id_dir`` with retries; raise _Miss/_Failed/_Down."""
        limit = self.max_bytes if cap is None else cap
        attempt = 0
        while True:
            if self.down:
                raise _Down()
            try:
                return self._get(url, id_dir, limit)
            except urllib.error.HTTPError as exc:
                if exc.code in (404, 410):
                    raise _Miss()
                retryable = exc.code >= 500 or exc.code == 429
                if not retryable or attempt >= self.retries:
                    self.report(Problem("symbol-server-error",
                                        f"{url}: HTTP {exc.code} {exc.reason}"))
                    raise _Failed()
            except (socket.timeout, TimeoutError) as exc:
                self._mark_down("symbol-server-timeout",
                                f"{self.server.url}: no answer within {self.timeout:g} s "
                                f"({exc or 'timed out'}); not asked again in this run")
                raise _Down()
            except urllib.error.URLError as exc:
                if isinstance(exc.reason, (socket.timeout, TimeoutError)):
                    self._mark_down("symbol-server-timeout",
                                    f"{self.server.url}: no answer within {self.timeout:g} s; "
                                    "not asked again in this run")
                    raise _Down()
                if attempt >= self.retries:
                    self._mark_down("symbol-server-unreachable",
                                    f"{self.server.url}: {exc.reason}; not asked again in this run")
                    raise _Down()
            except (ConnectionError, http.client.HTTPException) as exc:
                if attempt >= self.retries:
                    self._mark_down("symbol-server-unreachable",
                                    f"{self.server.url}: {type(exc).__name__} {exc}; "
                                    "not asked again in this run")
                    raise _Down()
            time.sleep(self.backoff * (2 ** attempt))
            attempt += 1

    def _get(self, url: str, id_dir: Path, limit: int) -> Path:
        req = urllib.request.Request(url, headers={"User-Agent": self.user_agent})
        with self._opener.open(req, timeout=self.timeout) as resp:
            length_text = resp.headers.get("Content-Length")
            length = int(length_text) if length_text and length_text.isdigit() else None
            if length is not None and length > limit:
                self.report(Problem("download-too-large", f"{url}: {length} bytes announced, "
                                    f"over the {limit}-byte cap; not downloaded"))
                raise _Failed()
            tmp = temp_file(id_dir)
            written = 0
            try:
                with open(tmp, "wb") as out:
                    while True:
                        try:
                            chunk = resp.read(1 << 16)
                        except http.client.IncompleteRead as exc:
                            chunk, length = exc.partial, length or -1
                            out.write(chunk)
                            written += len(chunk)
                            break
                        if not chunk:
                            break
                        written += len(chunk)
                        if written > limit:
                            self.report(Problem("download-too-large", f"{url}: more than "
                                                f"{limit} bytes; download stopped"))
                            raise _Failed()
                        out.write(chunk)
                if length is not None and written != length:
                    self.report(Problem("corrupt-download", f"{url}: truncated ({written} of "
                                        f"{length if length >= 0 else '?'} bytes); not cached"))
                    raise _Failed()
            except BaseException:
                discard(tmp)
                raise
            return tmp

    def _mark_down(self, code: str, message: str) -> None:
        with self._lock:
            if self.down:
                return
            self.down = True
        self.report(Problem(code, message))


__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_RETRIES", "DEFAULT_TIMEOUT", "SymbolServerClient",
           "USER_AGENT"]
