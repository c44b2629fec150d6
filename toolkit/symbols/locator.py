"""Finding the one symbol or binary file that matches a module, along the symbol path.

``SymbolLocator`` walks the path's elements in order. A local store is searched in place in all
layouts (``stores``); a server's caches are searched like local stores, then the server is asked
(``http_store``). Every file returned carries the wanted id — PDB GUID+age, ``.sym`` MODULE id,
PE code id — unless the caller passes ``allow_mismatch=True``, in which case a mismatching file
is returned as a last resort with ``verified=False``. Names and ids from the dump are made safe
first (``safe_names``); what cannot be made safe is refused with a Problem.

Results are memoised per request, so ``prefetch`` (parallel, bounded pool) followed by
``find_*`` calls costs one lookup each. ``problems`` collects what went wrong (deduplicated).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

from toolkit.model.debug_id import DebugId
from toolkit.symbols.cab import CabError, expand
from toolkit.symbols.cache import DEFAULT_MISS_TTL, NegativeCache, default_cache_dir, discard, publish
from toolkit.symbols.http_store import (DEFAULT_MAX_BYTES, DEFAULT_RETRIES, DEFAULT_TIMEOUT,
                                        USER_AGENT, Checker, SymbolServerClient)
from toolkit.symbols.safe_names import MAX_NAME, contained, judge_name, normalize_code_id
from toolkit.symbols.stores import Candidate, by_name, candidates, file_names, sym_name
from toolkit.symbols.symbol_path import HttpServer, LocalStore, SymbolPath
from toolkit.symbols import verify
from toolkit.model.target import Problem

DEFAULT_WORKERS = 8


@dataclass(frozen=True)
class LocatedFile:
    """A file found on the symbol path. ``source`` names the path element that supplied it."""

    path: Path
    kind: str  # 'pdb' | 'sym' | 'pe'
    source: str
    verified: bool

    def to_json(self) -> Dict[str, object]:
        return {"path": str(self.path), "kind": self.kind, "source": self.source,
                "verified": self.verified}


@dataclass(frozen=True)
class DebugFileRequest:
    """Ask for the PDB (or Breakpad .sym) named in a module's CodeView record."""

    pdb_name: str
    debug_id: DebugId
    kinds: Tuple[str, ...] = ("pdb", "sym")


@dataclass(frozen=True)
class CodeFileRequest:
    """Ask for the binary itself (``name.dll/<TIMESTAMP><SIZE>/name.dll``)."""

    name: str
    code_id: str


Request = Union[DebugFileRequest, CodeFileRequest, Tuple[str, Union[DebugId, str]]]


def key_label(key: object) -> str:
    """``("debug", name, id, ...)`` -> ``name id``: how a memo key is named in a Problem."""
    if isinstance(key, tuple) and len(key) >= 3:
        return f"{str(key[1])[:80]} {key[2]}"
    return str(key)[:120]


def file_kind(path: Path) -> Optional[str]:
    """``pdb``/``sym``/``pe`` from a single file's suffix, None for anything else."""
    suffix = path.suffix.lower()
    if suffix == ".pdb":
        return "pdb"
    if suffix == ".sym":
        return "sym"
    if suffix in (".exe", ".dll", ".sys"):
        return "pe"
    return None


class SymbolLocator:
    """Finds verified symbol and binary files along a ``SymbolPath``."""

    def __init__(self, path: SymbolPath, *, http_timeout: float = DEFAULT_TIMEOUT,
                 max_download_bytes: int = DEFAULT_MAX_BYTES, user_agent: str = USER_AGENT,
                 retries: int = DEFAULT_RETRIES, backoff: float = 0.25,
                 miss_ttl: float = DEFAULT_MISS_TTL, max_workers: int = DEFAULT_WORKERS,
                 scratch_cache: Optional[Path] = None,
                 http_deadline: Optional[float] = None) -> None:
        self.path = path
        self.max_download_bytes = max_download_bytes
        self.max_workers = max(1, max_workers)
        self._problems: List[Problem] = []
        self._lock = threading.Lock()
        self._memo: Dict[object, Optional[LocatedFile]] = {}
        self._key_locks: Dict[object, threading.Lock] = {}
        negative = NegativeCache(miss_ttl)
        self._clients: Dict[HttpServer, SymbolServerClient] = {
            s: SymbolServerClient(s, self._report, timeout=http_timeout,
                                  max_bytes=max_download_bytes, user_agent=user_agent,
                                  retries=retries, backoff=backoff, negative=negative,
                                  deadline=http_deadline)
            for s in path.servers}
        # Where files from local stores that need expanding (.pd_) are expanded to: the first
        # server's cache, else the default cache. Never next to the user's own store.
        servers = path.servers
        self.scratch_cache = (scratch_cache if scratch_cache is not None
                              else servers[0].cache if servers
                              else path.default_cache or default_cache_dir())

    # -- public ---------------------------------------------------------------------------------

    @property
    def problems(self) -> List[Problem]:
        with self._lock:
            return list(self._problems)

    def find_debug_file(self, pdb_name: str, debug_id: DebugId,
                        kinds: Sequence[str] = ("pdb", "sym"), *,
                        allow_mismatch: bool = False) -> Optional[LocatedFile]:
        """The PDB or ``.sym`` for ``pdb_name`` carrying ``debug_id`` (first match on the path)."""
        name = self._safe(pdb_name)
        if name is None:
            return None
        self._note_long_forms(name, kinds)
        wanted = debug_id

        def check(p: Path, kind: str) -> Tuple[bool, str]:
            ids = verify.debug_ids_of(p)
            if wanted in ids:
                return True, ""
            if not ids:
                return False, f"not a readable {kind} file"
            return False, f"carries {', '.join(sorted(str(i) for i in ids))}, not {wanted}"

        key = ("debug", name.lower(), debug_id, tuple(kinds), allow_mismatch)
        return self._memoised(key, lambda: self._search(name, debug_id.breakpad, tuple(kinds),
                                                        check, allow_mismatch))

    def find_code_file(self, name: str, code_id: str, *,
                       allow_mismatch: bool = False) -> Optional[LocatedFile]:
        """The binary ``name`` whose TimeDateStamp+SizeOfImage spell ``code_id``."""
        safe = self._safe(name)
        if safe is None:
            return None
        wanted = normalize_code_id(code_id)
        if wanted is None:
            self._report(Problem("unsafe-id", f"refused code id {code_id[:64]!r} for {safe}: "
                                 "not <TIMESTAMP %08X><SizeOfImage %x> hex"))
            return None

        def check(p: Path, kind: str) -> Tuple[bool, str]:
            got = verify.code_id_of(p)
            if got == wanted:
                return True, ""
            return False, f"code id {got}, not {wanted}" if got else "not a readable PE file"

        key = ("code", safe.lower(), wanted, allow_mismatch)
        return self._memoised(key, lambda: self._search(safe, wanted, ("pe",), check,
                                                        allow_mismatch))

    def find_by_name(self, name: str) -> List[LocatedFile]:
        """Files called ``name`` in local stores and caches, unverified (there is no id)."""
        safe = self._safe(name)
        if safe is None:
            return []
        out: List[LocatedFile] = []
        seen = set()
        for root, source in self._local_roots():
            for cand in by_name(root, safe):
                if cand.path not in seen:
                    seen.add(cand.path)
                    out.append(LocatedFile(cand.path, cand.kind, source, False))
        return out

    def prefetch(self, requests: Sequence[Request]) -> None:
        """Look up many files at once (downloads in parallel); later ``find_*`` calls hit memo."""
        unique: List[Request] = []
        for r in requests:
            if r not in unique:
                unique.append(r)
        if not unique:
            return
        workers = min(self.max_workers, len(unique))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dumpkit-sym") as pool:
            list(pool.map(self._run_request, unique))

    # -- internals ------------------------------------------------------------------------------

    def _run_request(self, r: Request) -> Optional[LocatedFile]:
        if isinstance(r, DebugFileRequest):
            return self.find_debug_file(r.pdb_name, r.debug_id, r.kinds)
        if isinstance(r, CodeFileRequest):
            return self.find_code_file(r.name, r.code_id)
        name, ident = r
        if isinstance(ident, DebugId):
            return self.find_debug_file(name, ident)
        return self.find_code_file(name, ident)

    def _report(self, problem: Problem) -> None:
        with self._lock:
            if problem not in self._problems:
                self._problems.append(problem)

    def _safe(self, name: str) -> Optional[str]:
        base, reason = judge_name(name)
        if base is None:
            self._report(Problem("unsafe-name", f"refused symbol file name {name[:80]!r}: {reason}"))
        return base

    def _memoised(self, key: object,
                  compute: Callable[[], Optional[LocatedFile]]) -> Optional[LocatedFile]:
        with self._lock:
            if key in self._memo:
                return self._memo[key]
            lock = self._key_locks.setdefault(key, threading.Lock())
        with lock:  # two threads asking for the same file: the second waits for the first
            with self._lock:
                if key in self._memo:
                    return self._memo[key]
            try:
                result = compute()
            except OSError as exc:
                # One module's lookup failing on the file system (a name too long for it, a
                # store that vanished) costs that module its symbols, never the whole command.
                self._report(Problem("symbol-file-error", f"{key_label(key)}: looked up without "
                                     f"symbols ({exc.strerror or exc})"))
                result = None
            with self._lock:
                self._memo[key] = result
            return result

    def _local_roots(self) -> List[Tuple[Path, str]]:
        roots: List[Tuple[Path, str]] = []
        for element in self.path.elements:
            if isinstance(element, LocalStore):
                roots.append((element.path, element.describe()))
            else:
                roots.extend((c, element.describe()) for c in element.caches)
        return roots

    def _search(self, name: str, file_id: str, kinds: Tuple[str, ...], check: Checker,
                allow_mismatch: bool) -> Optional[LocatedFile]:
        mismatch: Optional[LocatedFile] = None
        for element in self.path.elements:
            if isinstance(element, LocalStore) and element.path.is_file():
                found = self._single_file(element, name, file_id, kinds, check)
                if found is not None and found.verified:
                    return found
                if found is not None and mismatch is None:
                    mismatch = found
                continue
            roots = [element.path] if isinstance(element, LocalStore) else list(element.caches)
            for root in roots:
                for cand in candidates(root, name, file_id, kinds):
                    found = self._try_candidate(cand, name, file_id, check, element.describe())
                    if found is not None and found.verified:
                        return found
                    if found is not None and mismatch is None:
                        mismatch = found
            if isinstance(element, HttpServer):
                try:
                    got = self._clients[element].fetch(name, file_id, kinds, check)
                except OSError as exc:  # cache not writable, disk full...
                    self._report(Problem("symbol-cache-error", f"{element.cache}: {exc}"))
                    got = None
                if got is not None:
                    return LocatedFile(got[0], got[1], element.describe(), True)
        return mismatch if allow_mismatch else None

    def _single_file(self, element: LocalStore, name: str, file_id: str, kinds: Sequence[str],
                     check: Checker) -> Optional[LocatedFile]:
        """``-y x.pdb`` / ``-y x.sym``: the file is the symbol source of the module whose id it
        carries; for a module of the same name with another id the mismatch is reported."""
        path = element.path
        kind = file_kind(path)
        if kind is None or kind not in kinds:
            return None
        ok, reason = check(path, kind)
        if ok:
            return LocatedFile(path, kind, element.describe(), True)
        if path.name.lower() not in (name.lower(), sym_name(name).lower()):
            return None          # another module's file: it says nothing about this one
        self._report(Problem("symbol-id-mismatch", f"{path}: {reason}"))
        return LocatedFile(path, kind, element.describe(), False)

    def _note_long_forms(self, name: str, kinds: Sequence[str]) -> None:
        """A name that fits 255 bytes while a form derived from it (``x.sym``, ``x.pdb.sym``)
        does not: those forms cannot exist on disk and are skipped; say so once."""
        forms = [f for kind in kinds for f, _ in file_names(name, kind)]
        if "sym" in kinds:
            forms.append(name + ".sym")
        long = sorted({f for f in forms if len(f.encode("utf-8", "surrogatepass")) > MAX_NAME})
        if long:
            self._report(Problem("name-too-long", f"{name[:40]}... ({len(name.encode())} bytes): "
                                 f"{len(long)} file name(s) derived from it pass the 255-byte "
                                 "limit and are not looked up"))

    def path_warnings(self) -> List[str]:
        """What is wrong with the symbol path itself: directories that do not exist."""
        return [f"symbol path element {e.path} does not exist; nothing is searched there"
                for e in self.path.local_stores if not e.is_cache and not e.path.exists()]

    def _try_candidate(self, cand: Candidate, name: str, file_id: str, check: Checker,
                       source: str) -> Optional[LocatedFile]:
        """Verified LocatedFile, unverified one (id mismatch), or None (unusable)."""
        path = cand.path
        if cand.compressed:
            expanded = self._expand_local(cand, name, file_id, check)
            if expanded is None:
                return None
            path = expanded
        ok, reason = check(path, cand.kind)
        if ok:
            return LocatedFile(path, cand.kind, source, True)
        self._report(Problem("symbol-id-mismatch", f"{path}: {reason}"))
        return LocatedFile(path, cand.kind, source, False)

    def _expand_local(self, cand: Candidate, name: str, file_id: str,
                      check: Checker) -> Optional[Path]:
        """Expand a local ``.pd_`` into the scratch cache (verified first), reusing a prior one."""
        id_dir = contained(self.scratch_cache, name, file_id)
        final = contained(self.scratch_cache, name, file_id,
                          sym_name(name) if cand.kind == "sym" else name)
        if id_dir is None or final is None:
            return None
        if final.is_file() and check(final, cand.kind)[0]:
            return final
        try:
            tmp = expand(cand.path, id_dir, self.max_download_bytes)
        except CabError as exc:
            self._report(Problem(exc.code, f"{cand.path}: {exc}"))
            return None
        except OSError as exc:
            self._report(Problem("symbol-cache-error", f"{id_dir}: {exc}"))
            return None
        ok, reason = check(tmp, cand.kind)
        if not ok:
            discard(tmp)
            self._report(Problem("symbol-id-mismatch", f"{cand.path}: {reason}"))
            return None
        publish(tmp, final)
        return final


__all__ = ["CodeFileRequest", "DebugFileRequest", "LocatedFile", "SymbolLocator"]
