"""A real HTTP symbol server on 127.0.0.1, in a thread, for tests that talk to one.

It serves a symbol-store tree (``name/<id>/file``) built in a temp dir from corpus files, counts
requests per path, and can misbehave per path on demand: 404 for everything, a truncated body
(Content-Length larger than what is sent), a slow answer, N 5xx answers before success, or
"serve these bytes instead" (a PDB with another GUID under the wanted id).

Use ``with SymServer(root) as srv: ... srv.url``; ``srv.requests[path]`` counts GETs.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, Optional
from urllib.parse import unquote


def store_file(root: Path, name: str, file_id: str, source: Path, stored_as: Optional[str] = None) -> Path:
    """Copy ``source`` into ``root/name/file_id/<stored_as or name>`` (symbol-store layout)."""
    dest = root / name / file_id / (stored_as or name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, dest)
    return dest


class SymServer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: Counter = Counter()
        self.user_agents: list = []
        self.all_404 = False
        self.truncate: Dict[str, int] = {}  # path -> bytes actually sent
        self.slow: Dict[str, float] = {}  # path -> delay before answering (s)
        self.fail_first: Dict[str, int] = {}  # path -> number of 503s before success
        self.substitute: Dict[str, Path] = {}  # path -> file served instead
        self.delay_all = 0.0
        self.trickle: Dict[str, float] = {}  # path -> seconds between body bytes (a stalled server)
        self.in_flight = 0
        self.max_in_flight = 0  # how many requests were being served at once, at most
        self._lock = threading.Lock()
        self._httpd: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    @property
    def url(self) -> str:
        assert self._httpd is not None
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def count(self, prefix: str = "") -> int:
        with self._lock:
            return sum(n for p, n in self.requests.items() if p.startswith(prefix))

    def __enter__(self) -> "SymServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep pytest output clean
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                path = unquote(self.path.split("?")[0]).lstrip("/")
                with server._lock:
                    server.requests[path] += 1
                    server.user_agents.append(self.headers.get("User-Agent", ""))
                    failures = server.fail_first.get(path, 0)
                    if failures:
                        server.fail_first[path] = failures - 1
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    self._answer(path, failures)
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _answer(self, path: str, failures: int) -> None:
                delay = server.slow.get(path, server.delay_all)
                if delay:
                    time.sleep(delay)
                if failures:
                    self.send_error(503, "try later")
                    return
                file = server.substitute.get(path) or (server.root / path)
                if server.all_404 or ".." in path.split("/") or not file.is_file():
                    self.send_error(404)
                    return
                data = file.read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                sent = server.truncate.get(path)
                pause = server.trickle.get(path)
                if pause is not None:
                    self._trickle(data, pause)
                    return
                try:
                    self.wfile.write(data if sent is None else data[:sent])
                except (BrokenPipeError, ConnectionResetError):
                    pass
                if sent is not None:
                    self.close_connection = True

            def _trickle(self, data: bytes, pause: float) -> None:
                """One byte per ``pause`` seconds: never idle long enough for a read timeout."""
                self.close_connection = True
                try:
                    for i in range(len(data)):
                        self.wfile.write(data[i:i + 1])
                        self.wfile.flush()
                        time.sleep(pause)
                except OSError:  # the client hung up, as it should
                    pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._httpd is not None and self._thread is not None
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
