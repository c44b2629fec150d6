"""The triage database: one SQLite file (WAL mode), one row per dump, keyed by its SHA-256.

Why SQLite: one file a nightly job can keep next to the share, readable by any tool, safe to
read while a run writes (WAL). Rows are committed in batches (``batch`` outcomes or
``seconds``, whichever comes first), so a killed run loses at most the dumps in flight and the
last unfinished batch.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Iterable, Iterator, List, Optional, Set

from toolkit.model.errors import InputError
from toolkit.triage.worker import Outcome

SCHEMA = """
CREATE TABLE IF NOT EXISTS dumps (
    sha256 TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'refused')),
    reason TEXT,
    os TEXT,
    arch TEXT,
    exception TEXT,
    bucket TEXT,
    signature TEXT,
    module TEXT,
    module_version TEXT,
    dump_timestamp INTEGER,
    seconds REAL,
    analyzed_at INTEGER NOT NULL,
    analysis TEXT
);
CREATE INDEX IF NOT EXISTS dumps_bucket ON dumps (bucket);
"""

COLUMNS = ("sha256", "path", "size", "status", "reason", "os", "arch", "exception", "bucket",
           "signature", "module", "module_version", "dump_timestamp", "seconds", "analysis")


class Store:
    def __init__(self, path: str, *, batch: int = 20, seconds: float = 2.0) -> None:
        self.path = path
        self.batch, self.seconds = batch, seconds
        self._pending: List[Outcome] = []
        self._last_commit = time.monotonic()
        try:
            self.db = sqlite3.connect(path)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")    # WAL: durable at checkpoints
            self.db.executescript(SCHEMA)
        except sqlite3.OperationalError as exc:
            raise InputError(f"{path}: cannot open the triage database ({exc})") from None
        except sqlite3.DatabaseError as exc:
            raise InputError(f"{path}: not a triage database ({exc})") from None

    def known(self, hashes: Iterable[str]) -> Set[str]:
        """Which of ``hashes`` already have a row."""
        wanted = list(hashes)
        found: Set[str] = set()
        for i in range(0, len(wanted), 500):
            chunk = wanted[i:i + 500]
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in self.db.execute(
                f"SELECT sha256 FROM dumps WHERE sha256 IN ({marks})", chunk))
        return found

    def put(self, outcome: Outcome) -> None:
        """Queue one row (replacing a row of the same hash); commits when a batch is full."""
        self._pending.append(outcome)
        if len(self._pending) >= self.batch or \
                time.monotonic() - self._last_commit >= self.seconds:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            now = int(time.time())
            rows = [(o.sha256, o.name, o.size, o.status, o.reason, o.os, o.arch, o.exception,
                     o.bucket, o.signature, o.module, o.module_version, o.dump_timestamp,
                     o.seconds, now, o.analysis) for o in self._pending]
            with self.db:
                self.db.executemany(
                    "INSERT OR REPLACE INTO dumps (sha256, path, size, status, reason, os, arch,"
                    " exception, bucket, signature, module, module_version, dump_timestamp,"
                    " seconds, analyzed_at, analysis) VALUES"
                    " (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
            self._pending = []
        self._last_commit = time.monotonic()

    def rows(self, hashes: Optional[Iterable[str]] = None) -> Iterator[Outcome]:
        """Every row, or those of ``hashes``, as outcomes."""
        query = f"SELECT {', '.join(COLUMNS)} FROM dumps"
        if hashes is None:
            for row in self.db.execute(query + " ORDER BY path"):
                yield _outcome(row)
            return
        wanted = list(hashes)
        for i in range(0, len(wanted), 500):
            chunk = wanted[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.db.execute(query + f" WHERE sha256 IN ({marks})", chunk):
                yield _outcome(row)

    def close(self) -> None:
        self.flush()
        self.db.close()


def _outcome(row: tuple) -> Outcome:
    fields = dict(zip(COLUMNS, row))
    fields["name"] = fields.pop("path")
    return Outcome(**fields)


__all__ = ["Store", "SCHEMA"]
