"""Downloading symbol files from one HTTP symbol server into its cache, the way symsrv does.

For ``name``/``id`` the server is asked, in order, for ``name/id/name`` (e.g. ``x.pdb``), the
compressed ``name/id/name.pd_``, a Breakpad ``name/id/stem.sym`` when ``.sym`` is wanted, and
``name/id/file.ptr``. Every download:

* is streamed into a temp file in the cache's id directory, stopped past ``max_bytes`` (checked
  on Content-Length first) and rejected when shorter than its Content-Length;
* is expanded if it is a CAB, then verified to carry the wanted id, and only then renamed onto
  its final name (so a corrupt or wrong-GUID file is deleted and reported, never cached);
* is retried with exponential backoff on 5xx and connection errors (bounded), not on timeouts;
* has a whole deadline (``DEFAULT_DEADLINE``, ``DUMPKIT_SYMBOL_DEADLINE=<seconds>``) besides the
  per-read timeout: a server trickling one byte per second never trips a per-read timeout, so a
  watchdog shuts the connection's socket when the deadline passes, and the temp file is deleted.

A server that times out or cannot be reached is marked down for the rest of the run: one
Problem, not one per module. When every form got a 404 the miss is remembered (see
``cache.NegativeCache``) so the next run does not ask again. The standard library's urllib is
enough here (streaming, timeouts, redirects, proxies from the environment); no extra dependency.
"""

from __future__ import annotations

import http.client
import os
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from toolkit import __version__
from toolkit.symbols.cab import CabError, expand
from toolkit.symbols.cache import NegativeCache, discard, publish, temp_file
from toolkit.symbols.safe_names import contained
from toolkit.symbols.stores import FILE_PTR, file_names, sym_name
from toolkit.symbols.symbol_path import HttpServer
from toolkit.model.target import Problem

DEFAULT_TIMEOUT = 20.0
#: Seconds one request may take from connect to last byte. The 2 GiB download cap over 600 s
#: asks for 3.6 MB/s at worst, which any working server beats; a stalled one is cut off there.
DEFAULT_DEADLINE = 600.0
ENV_DEADLINE = "DUMPKIT_SYMBOL_DEADLINE"
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


def default_deadline() -> float:
    """``DUMPKIT_SYMBOL_DEADLINE`` when it is a positive number of seconds, else the default."""
    text = os.environ.get(ENV_DEADLINE, "")
    try:
        value = float(text)
    except ValueError:
        return DEFAULT_DEADLINE
    return value if value > 0 else DEFAULT_DEADLINE


class _Deadline(Exception):
    """The whole request took longer than its deadline (the watchdog closed the socket)."""


class _Watchdog:
    """Shuts every socket a request opens once the request's deadline passes.

    urllib offers only a per-read timeout; the connections it makes are told about the current
    request through a thread-local, so redirects and retries share one deadline.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def start(self, seconds: float) -> None:
        self._local.state = {"deadline": time.monotonic() + seconds, "timers": [],
                             "expired": False}

    def stop(self) -> bool:
        """Cancel the timers; True when the deadline had passed."""
        state = getattr(self._local, "state", None)
        self._local.state = None
        if state is None:
            return False
        for timer in state["timers"]:
            timer.cancel()
        return bool(state["expired"]) or time.monotonic() >= state["deadline"]

    def expired(self) -> bool:
        state = getattr(self._local, "state", None)
        return state is not None and (state["expired"] or time.monotonic() >= state["deadline"])

    def arm(self, sock: Any) -> None:
        state: Optional[Dict[str, Any]] = getattr(self._local, "state", None)
        if state is None or sock is None:
            return
        remaining = max(0.0, state["deadline"] - time.monotonic())

        def fire() -> None:
            state["expired"] = True
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        timer = threading.Timer(remaining, fire)
        timer.daemon = True
        timer.start()
        timers: List[threading.Timer] = state["timers"]
        timers.append(timer)

    def connection_class(self, base: Any) -> Any:
        watchdog = self

        class Guarded(base):
            def connect(self) -> None:
                super().connect()
                watchdog.arm(self.sock)

        return Guarded


class _GuardedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, watchdog: _Watchdog) -> None:
        super().__init__()
        self._http_class = watchdog.connection_class(http.client.HTTPConnection)

    def http_open(self, req: Any) -> Any:
        return self.do_open(self._http_class, req)


class _GuardedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, watchdog: _Watchdog) -> None:
        super().__init__()
        self._watchdog = watchdog

    def do_open(self, http_class: Any, req: Any, **kwargs: Any) -> Any:
        return super().do_open(self._watchdog.connection_class(http_class), req, **kwargs)


class SymbolServerClient:
    """Fetches verified files from one ``HttpServer`` into ``server.cache``."""

    def __init__(self, server: HttpServer, report: Callable[[Problem], None], *,
                 timeout: float = DEFAULT_TIMEOUT, max_bytes: int = DEFAULT_MAX_BYTES,
                 user_agent: str = USER_AGENT, retries: int = DEFAULT_RETRIES,
                 backoff: float = 0.25, negative: Optional[NegativeCache] = None,
                 deadline: Optional[float] = None) -> None:
        self.server = server
        self.report = report
        self.timeout = timeout
        self.deadline = deadline if deadline is not None and deadline > 0 else default_deadline()
        self.max_bytes = max_bytes
        self.user_agent = user_agent
        self.retries = max(0, retries)
        self.backoff = backoff
        self.negative = negative if negative is not None else NegativeCache()
        self.down = False
        self._lock = threading.Lock()
        self._watchdog = _Watchdog()
        self._opener = urllib.request.build_opener(_GuardedHTTPHandler(self._watchdog),
                                                   _GuardedHTTPSHandler(self._watchdog))

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
                self.report(Problem("unsafe-name", f"{url}: cannot cache it as {final_name[:80]!r}"
                                    " (over 255 bytes); not cached"))
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
                return self._get_within_deadline(url, id_dir, limit)
            except _Deadline:
                self._mark_down("symbol-server-timeout",
                                f"{self.server.url}: {url} not complete within the "
                                f"{self.deadline:g} s deadline ({ENV_DEADLINE}); "
                                "not asked again in this run")
                raise _Down()
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

    def _get_within_deadline(self, url: str, id_dir: Path, limit: int) -> Path:
        """``_get`` under the watchdog: whatever the socket did, past the deadline it is a
        ``_Deadline`` (the temp file is already gone: ``_get`` discards it on every error)."""
        self._watchdog.start(self.deadline)
        try:
            got = self._get(url, id_dir, limit)
        except _Failed:
            if self._watchdog.stop():
                raise _Deadline()
            raise
        except Exception:
            if self._watchdog.stop():
                raise _Deadline()
            raise
        if self._watchdog.stop():
            discard(got)
            raise _Deadline()
        return got

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
                        if not chunk or self._watchdog.expired():
                            break
                        written += len(chunk)
                        if written > limit:
                            self.report(Problem("download-too-large", f"{url}: more than "
                                                f"{limit} bytes; download stopped"))
                            raise _Failed()
                        out.write(chunk)
                if self._watchdog.expired():
                    raise _Deadline()
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


__all__ = ["DEFAULT_DEADLINE", "DEFAULT_MAX_BYTES", "DEFAULT_RETRIES", "DEFAULT_TIMEOUT",
           "ENV_DEADLINE", "SymbolServerClient", "USER_AGENT", "default_deadline"]
