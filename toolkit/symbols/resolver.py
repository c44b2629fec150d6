"""Per-module symbols: find the file, check its id, load it through ``symbolic``, cache a SymCache.

This is dbghelp's SymLoadModuleEx + SymFromAddr: given a module's identity (from a minidump, a
PE, or a trace's stored debug blob) pick the symbol file on the symbol path, refuse it if its
debug id differs (unless ``allow_mismatch``, then every answer is marked ``mismatched``), and
answer addresses. The order of preference is: matching PDB, matching Breakpad ``.sym``, the image
itself (exports only), nothing. A module known only by name (``app.exe+0x1234``) gets its debug
id from the binary of that name found on the symbol path.

Derived files live in ``<cache>/symcache/``: ``<DEBUGID>-<kind>.symc`` (symbolic's SymCache) and
``.npz`` (the flat function table, see function_table.py), so a second run over the same ids
neither opens the PDB nor walks the SymCache again. ``<cache>`` is the download cache the symbol
file lies in (``srv*CACHE*URL``), so derived files stay beside their source; files from the
user's own directories derive into the default cache, never next to the user's files.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Protocol, Sequence, Tuple

from toolkit.model.debug_id import DebugId
from toolkit.model.errors import DumpkitError, SymbolEngineUnavailable
from toolkit.symbols.cache import atomic_writer
from toolkit.symbols.function_table import FunctionTable
from toolkit.symbols.location import InlineFrame, Location, SymbolStatus
from toolkit.symbols.pdb_records import PdbRecords, fill_table, load_pdb_records
from toolkit.model.target import Module, Problem


def require_symbolic() -> Any:
    """Import ``symbolic`` lazily, or explain in one line why PDB symbolication cannot run here."""
    try:
        import symbolic
        from symbolic.debuginfo import Archive  # noqa: F401 - the part we need must import too
    except ImportError as exc:
        raise SymbolEngineUnavailable(
            "PDB symbolication needs the debugger engine (WinDbg/pykd) or a non-Windows host: "
            f"the 'symbolic' package is not available here ({exc})") from None
    return symbolic


class LocatedFileLike(Protocol):
    """A found file (toolkit.symbols.locator.LocatedFile); read-only, so frozen dataclasses fit."""

    @property
    def path(self) -> Path: ...

    @property
    def kind(self) -> str: ...

    @property
    def source(self) -> str: ...

    @property
    def verified(self) -> bool: ...


class Locator(Protocol):
    """What the resolver asks of a symbol path (toolkit.symbols.locator.SymbolLocator)."""

    def find_debug_file(self, pdb_name: str, debug_id: DebugId, kinds: Sequence[str] = ...,
                        *, allow_mismatch: bool = ...) -> Optional[LocatedFileLike]: ...

    def find_code_file(self, name: str, code_id: str, *,
                       allow_mismatch: bool = ...) -> Optional[LocatedFileLike]: ...

    def find_by_name(self, name: str) -> Sequence[LocatedFileLike]: ...


@dataclass
class ModuleSymbols:
    """What was found for one module; ``symcache``/``table`` are None when status is missing."""

    module: Module
    status: SymbolStatus
    reason: Optional[str] = None
    source: Optional[Path] = None            # the symbol file (or cached SymCache) used
    kind: Optional[str] = None               # "pdb" | "sym" | "pe"
    symcache: Any = field(default=None, repr=False)
    table: Optional[FunctionTable] = field(default=None, repr=False)
    records: Optional[PdbRecords] = field(default=None, repr=False)  # the PDB's procs/publics

    @property
    def has_symbols(self) -> bool:
        return self.symcache is not None


@dataclass(frozen=True)
class ImageIdentity:
    debug_id: Optional[DebugId]
    pdb_name: Optional[str]
    code_id: Optional[str]
    size_of_image: Optional[int] = None


def identity_of_image(path: Path) -> ImageIdentity:
    """Debug id and PDB name from a PE's CodeView record, code id and SizeOfImage from its
    headers; all None when the file is not a readable PE."""
    from toolkit.targets.pe.image import PeImage

    try:
        image = PeImage.from_file(path)
    except (DumpkitError, OSError):
        return ImageIdentity(None, None, None)
    return ImageIdentity(image.debug_id, image.pdb_name, image.code_id, image.size_of_image)


class Resolver:
    """Loads symbols per module on first use and answers single lookups (with inline frames)."""

    def __init__(self, locator: Optional[Locator], cache_dir: Optional[Path] = None, *,
                 allow_mismatch: bool = False, caches: Sequence[Path] = ()) -> None:
        self.locator = locator
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        #: The symbol path's download caches: derived files go beside a source found in one.
        self.caches: List[Path] = []
        for c in list(caches) + ([self.cache_dir] if self.cache_dir is not None else []):
            if Path(c) not in self.caches:
                self.caches.append(Path(c))
        self.allow_mismatch = allow_mismatch
        self.problems: List[Problem] = []
        self._loaded: Dict[Tuple[Any, ...], ModuleSymbols] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_symbol_path(cls, text: Optional[str], *, allow_mismatch: bool = False,
                         cache_dir: Optional[Path] = None) -> "Resolver":
        """Resolver over ``--symbol-path`` (or ``_NT_SYMBOL_PATH`` when None)."""
        from toolkit.symbols.locator import SymbolLocator
        from toolkit.symbols.symbol_path import SymbolPath, default_cache_dir

        path = SymbolPath.from_env_or(text)
        locator = SymbolLocator(path)
        caches = [c for server in path.servers for c in server.caches]
        return cls(locator, cache_dir if cache_dir is not None else default_cache_dir(),
                   allow_mismatch=allow_mismatch, caches=caches)

    # -- loading -----------------------------------------------------------------------------

    def prefetch(self, modules: Sequence[Module]) -> None:
        """Ask the locator for every module's debug file at once (parallel downloads)."""
        prefetch = getattr(self.locator, "prefetch", None)
        if prefetch is None:
            return
        from toolkit.symbols.locator import DebugFileRequest

        wanted = [DebugFileRequest(m.pdb_name or guess_pdb_name(m), m.debug_id) for m in modules
                  if m.debug_id is not None and not self._has_cached(m, m.debug_id)]
        if wanted:
            prefetch(wanted)

    def loaded(self) -> List[ModuleSymbols]:
        """What has been loaded so far, one entry per module identity."""
        with self._lock:
            return list(self._loaded.values())

    def symbols_for(self, module: Module) -> ModuleSymbols:
        """Symbols for ``module``, loaded once per identity (debug id, else code id, else name)."""
        key = (str(module.debug_id) if module.debug_id else None, module.code_id,
               module.name.lower())
        with self._lock:
            found = self._loaded.get(key)
            if found is None:
                try:
                    found = self._load(module)
                except OSError as exc:  # e.g. a derived file name too long for the file system
                    found = ModuleSymbols(module, SymbolStatus.MISSING,
                                          f"symbols not loaded: {exc.strerror or exc}")
                self._loaded[key] = found
        return found

    def _load(self, module: Module) -> ModuleSymbols:
        debug_id, pdb_name, code_id = module.debug_id, module.pdb_name, module.code_id
        image: Optional[Path] = None
        reasons: List[str] = []
        mismatch: Optional[str] = None
        if debug_id is None and self.locator is not None:
            image = self._find_image(module)
            if image is not None:
                ident = identity_of_image(image)
                mismatch = _code_id_mismatch(module, image, ident)
                if mismatch is not None and not self.allow_mismatch:
                    reasons.append(mismatch + " (refused; --allow-mismatch would use it)")
                    image = None
                else:
                    debug_id, pdb_name = ident.debug_id, ident.pdb_name
                    code_id = code_id or ident.code_id
        if debug_id is not None:
            got = self._load_debug_file(module, debug_id, pdb_name or guess_pdb_name(module), reasons)
            if got is not None:
                return _marked(got, mismatch)
        elif image is None:
            reasons.append("the module carries no debug id and no binary of that name was found")
        if image is None and code_id and self.locator is not None:
            located = self.locator.find_code_file(module.name, code_id)
            image = located.path if located is not None else None
        if image is not None:
            got = self._load_file(module, image, "pe", None, reasons)
            if got is not None:
                return _marked(got, mismatch)
        return ModuleSymbols(module, SymbolStatus.MISSING, "; ".join(reasons) or "no symbols found")

    def image_identity(self, module: Module) -> Optional[ImageIdentity]:
        """The identity of ``module``'s binary found on the symbol path (by code id, else by
        name), or None when there is no symbol path or no binary of that name."""
        if self.locator is None:
            return None
        image = self._find_image(module)
        return identity_of_image(image) if image is not None else None

    def _find_image(self, module: Module) -> Optional[Path]:
        assert self.locator is not None
        if module.code_id:
            located = self.locator.find_code_file(module.name, module.code_id)
            if located is not None:
                return located.path
        names = [module.name]
        if "." not in module.name:        # "crash+0x10": WinDbg names modules without extension
            names += [module.name + ext for ext in (".exe", ".dll", ".sys")]
        for name in names:
            for located in self.locator.find_by_name(name):
                if located.kind == "pe":
                    return located.path
        return None

    def _load_debug_file(self, module: Module, debug_id: DebugId, pdb_name: str,
                         reasons: List[str]) -> Optional[ModuleSymbols]:
        for kind in ("pdb", "sym"):
            cached = self._open_cached(module, debug_id, kind)
            if cached is not None:
                return cached
        if self.locator is None:
            reasons.append(f"no symbol path to search for {pdb_name} {debug_id}")
            return None
        located = self.locator.find_debug_file(pdb_name, debug_id, kinds=("pdb", "sym"),
                                               allow_mismatch=self.allow_mismatch)
        if located is None:
            reasons.append(f"{pdb_name} with debug id {debug_id} is not on the symbol path")
            for problem in getattr(self.locator, "problems", [])[-3:]:
                reasons.append(problem.message)
            return None
        return self._load_file(module, located.path, located.kind, debug_id, reasons)

    def _load_file(self, module: Module, path: Path, kind: str, wanted: Optional[DebugId],
                   reasons: List[str]) -> Optional[ModuleSymbols]:
        require_symbolic()
        from symbolic.debuginfo import Archive
        from toolkit.symbols.verify import debug_ids_of

        status, reason = (SymbolStatus.EXPORT if kind == "pe" else SymbolStatus.EXACT), None
        if wanted is not None:
            carried = debug_ids_of(path)
            if wanted not in carried:
                have = ", ".join(sorted(str(d) for d in carried)) or "no readable id"
                why = f"{path.name} has debug id {have}, the module wants {wanted}"
                if not self.allow_mismatch:
                    reasons.append(why + " (refused; --allow-mismatch would use it)")
                    return None
                status, reason = SymbolStatus.MISMATCHED, why
        try:
            obj = next(iter(Archive.open(str(path)).iter_objects()))
            symcache = obj.make_symcache()
        except StopIteration:
            reasons.append(f"{path.name} holds no object symbolic can read")
            return None
        except Exception as exc:  # symbolic raises its own hierarchy for unreadable files
            reasons.append(f"{path.name} is unreadable: {type(exc).__name__}: {exc}")
            return None
        cache_path = self._cache_path(module, kind, _id_of(obj.debug_id) or wanted,
                                      self._derived_root(path))
        persist = cache_path is not None and status is not SymbolStatus.MISMATCHED
        records = None
        if kind == "pdb":
            records = load_pdb_records(path, _records_path(cache_path) if persist else None)
        if persist:
            assert cache_path is not None
            symcache = self._persist(symcache, cache_path)
        table = self._table(symcache, cache_path if persist else None,
                            records if status is SymbolStatus.EXACT else None)
        if kind == "pe" and table is not None and table.function_count == 0:
            reasons.append(f"{path.name} (the image) exports no functions")
            return None
        return ModuleSymbols(module, status, reason, path, kind, symcache, table, records)

    # -- derived caches ----------------------------------------------------------------------

    # -- cached unwind data (STACK records beside the SymCache) -------------------------------

    def save_unwind(self, debug_id: DebugId, source: Path, records: bytes) -> None:
        """Keep ``source``'s STACK records as ``<cache>/symcache/<DEBUGID>.stack`` (possibly
        empty: "the source had none" differs from "never cached")."""
        root = self._derived_root(source)
        if root is None:
            return
        path = root / "symcache" / f"{debug_id.breakpad}.stack"
        try:
            if path.is_file() and path.stat().st_size == len(records):
                return
            with atomic_writer(path) as fh:
                fh.write(records)
        except OSError as exc:
            self.problems.append(Problem("symcache-write", f"cannot cache {path}: {exc}"))

    def cached_unwind(self, debug_id: DebugId) -> Optional[bytes]:
        """The STACK records cached for ``debug_id``, or None when none were ever cached."""
        for root in self.caches:
            path = root / "symcache" / f"{debug_id.breakpad}.stack"
            try:
                return path.read_bytes()
            except OSError:
                continue
        return None

    def _derived_root(self, source: Path) -> Optional[Path]:
        """The download cache ``source`` lies in, else the default cache."""
        try:
            real = source.resolve()
            for cache in self.caches:
                if real.is_relative_to(cache.resolve()):
                    return cache
        except OSError:
            pass
        return self.cache_dir

    def _cache_path(self, module: Module, kind: str, debug_id: Optional[DebugId],
                    root: Optional[Path] = None) -> Optional[Path]:
        root = root if root is not None else self.cache_dir
        if root is None:
            return None
        if kind == "pe":
            if not module.code_id:
                return None
            tag = hashlib.sha1(module.name.lower().encode("utf-8")).hexdigest()[:8]
            return root / "symcache" / f"pe-{module.code_id}-{tag}.symc"
        if debug_id is None:
            return None
        return root / "symcache" / f"{debug_id.breakpad}-{kind}.symc"

    def _cached_file(self, module: Module, kind: str, debug_id: DebugId) -> Optional[Path]:
        """The derived SymCache for ``debug_id`` in any of the caches, first found."""
        for root in self.caches:
            path = self._cache_path(module, kind, debug_id, root)
            if path is not None and path.is_file():
                return path
        return None

    def _has_cached(self, module: Module, debug_id: DebugId) -> bool:
        """A SymCache for ``debug_id`` is already in a cache (no symbol file is needed)."""
        return any(self._cached_file(module, kind, debug_id) is not None
                   for kind in ("pdb", "sym"))

    def _open_cached(self, module: Module, debug_id: DebugId, kind: str) -> Optional[ModuleSymbols]:
        path = self._cached_file(module, kind, debug_id)
        if path is None:
            return None
        symbolic = require_symbolic()
        try:
            symcache = symbolic.SymCache.open(str(path))
            if not symcache.is_latest_version or _id_of(symcache.debug_id) != debug_id:
                return None
        except Exception:  # a torn or foreign file: rebuild from the symbol file
            return None
        records = None
        if kind == "pdb":
            records = PdbRecords.load(path.with_suffix(".records.npz"))
            if records is None:        # cached before the records were: read the PDB once more
                return None
        return ModuleSymbols(module, SymbolStatus.EXACT, None, path, kind, symcache,
                             self._table(symcache, path, records), records)

    def _persist(self, symcache: Any, path: Path) -> Any:
        """Write the SymCache atomically and reopen it memory-mapped from disk."""
        symbolic = require_symbolic()
        try:
            with atomic_writer(path) as fh:
                symcache.dump_into(fh)
            return symbolic.SymCache.open(str(path))
        except OSError as exc:
            self.problems.append(Problem("symcache-write", f"cannot cache {path}: {exc}"))
            return symcache

    def _table(self, symcache: Any, cache_path: Optional[Path],
               records: Optional[PdbRecords] = None) -> Optional[FunctionTable]:
        npz = cache_path.with_suffix(".npz") if cache_path is not None else None
        if npz is not None and npz.is_file():
            table = FunctionTable.load(npz)
            if table is not None:
                return table
        try:
            table = FunctionTable.from_symcache(_symcache_bytes(symcache))
        except DumpkitError as exc:  # a SymCache version we cannot read: lookups stay per-address
            self.problems.append(Problem("symcache-format", str(exc)))
            return None
        if records is not None:
            table = fill_table(table, records)
        if npz is not None:
            try:
                table.save(npz)
            except OSError as exc:
                self.problems.append(Problem("symcache-write", f"cannot cache {npz}: {exc}"))
        return table

    # -- lookups -----------------------------------------------------------------------------

    def lookup(self, module: Module, address: int, *, lines: bool = True,
               inlines: bool = False) -> Location:
        """One address in ``module``: outermost function + displacement, line, inline chain."""
        syms = self.symbols_for(module)
        rva = address - module.base
        base = Location(address, module.name, module.base, displacement=rva,
                        status=syms.status, reason=syms.reason)
        if not syms.has_symbols or not 0 <= rva <= 0xFFFFFFFF:
            return base
        frames = syms.symcache.lookup(rva)
        if not frames:
            return self._from_records(syms, base, rva)
        outer = frames[-1]
        inline_frames: Tuple[InlineFrame, ...] = ()
        if inlines:
            inline_frames = tuple(InlineFrame(f.symbol, f.full_path if lines else None,
                                              (f.line or None) if lines else None)
                                  for f in frames[:-1])
        symbol = outer.symbol
        if syms.records is not None:
            symbol = syms.records.fix_name(symbol, outer.sym_addr)
        return Location(address, module.name, module.base, symbol, rva - outer.sym_addr,
                        outer.full_path if lines else None, (outer.line or None) if lines else None,
                        None, inline_frames, syms.status, syms.reason)


    @staticmethod
    def _from_records(syms: ModuleSymbols, base: Location, rva: int) -> Location:
        """Where the SymCache has nothing: the PDB's nearest preceding procedure or public."""
        got = syms.records.nearest(rva) if syms.records is not None else None
        if got is None or syms.status is not SymbolStatus.EXACT:
            return base
        name, start, _ = got
        return Location(base.address, base.module, base.module_base, name, rva - start,
                        status=SymbolStatus.PUBLIC, reason=PUBLIC_REASON)


PUBLIC_REASON = "public symbol: the PDB's line data does not cover this address"


def _records_path(cache_path: Optional[Path]) -> Optional[Path]:
    """``<id>-pdb.symc`` -> ``<id>-pdb.records.npz``: the PDB's records beside its SymCache."""
    return cache_path.with_suffix(".records.npz") if cache_path is not None else None


def _code_id_mismatch(module: Module, image: Path, ident: ImageIdentity) -> Optional[str]:
    """Why a binary found by name is not the module's (its TimeDateStamp+SizeOfImage differ),
    or None when it matches or the module names no code id to compare with."""
    if not module.code_id or ident.code_id is None:
        return None
    if ident.code_id.upper() == module.code_id.upper():
        return None
    return (f"{image.name} was found by name only: its code id {ident.code_id} is not the "
            f"module's {module.code_id}")


def _marked(found: ModuleSymbols, mismatch: Optional[str]) -> ModuleSymbols:
    """``found`` marked mismatched when it came from a binary of another build."""
    if mismatch is None:
        return found
    found.status, found.reason = SymbolStatus.MISMATCHED, mismatch
    return found


def _symcache_bytes(symcache: Any) -> bytes:
    import io

    buf = io.BytesIO()
    symcache.dump_into(buf)
    return buf.getvalue()


def _id_of(text: Optional[str]) -> Optional[DebugId]:
    if not text:
        return None
    try:
        return DebugId.parse(str(text))
    except ValueError:
        return None


def guess_pdb_name(module: Module) -> str:
    """``app.exe`` -> ``app.pdb``: the PDB name to ask for when the module does not carry one."""
    stem = module.name.rsplit(".", 1)[0] if "." in module.name else module.name
    return stem + ".pdb"


__all__ = ["PUBLIC_REASON", "Resolver", "ModuleSymbols", "Locator", "ImageIdentity", "identity_of_image",
           "require_symbolic", "guess_pdb_name"]
