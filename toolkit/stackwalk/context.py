"""What a stack walk may ask about a target: modules, their code, unwind data and symbols.

One ``WalkContext`` per target. It answers the questions every per-architecture rule asks
(``caller_frame(ctx, frame)`` in x86.py / amd64.py / arm64.py) and caches the per-module work:

- image bytes: from the dump when the image is mapped there (full dumps), else the binary found
  on the symbol path by code id (``name.dll/<TIMESTAMP><SizeOfImage>/name.dll``);
- code ranges (executable sections) for "does this candidate point into code";
- x64 unwind data (.pdata index read by RVA) and x86 STACK WIN/CFI tables (Breakpad .sym next
  to the debug id, or symbolic's CfiCache of the PDB);
- symbols (the resolver's function table) for "does it point into a known function";
- names for frames in modules without a symbol file: when the module's image is in the dump's
  memory (full dumps; Wine full dumps keep ntdll/kernel32), the nearest preceding export of
  that image, like WinDbg without PDBs (``ntdll!RtlEnterCriticalSection+0xa5``, status
  ``export``). The resolver already names frames from exports of an image file on the symbol
  path (through symbolic); this only covers the image the resolver cannot see, in memory;
- the call-site check (the bytes before a return address decode as a CALL ending there).
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from toolkit.model.errors import DumpkitError, UnreadableMemory
from toolkit.stackwalk import module_cache
from toolkit.symbols.module_index import ModuleIndex
from toolkit.model.target import Arch, Module, Problem, Target
from toolkit.unwind.callsite import call_length_at

IMAGE_SCN_CNT_CODE = 0x20
IMAGE_SCN_MEM_EXECUTE = 0x20000000
HEADER_SIZE = 0x1000
MAX_KEPT_LOCATIONS = 1 << 16      # distinct frame addresses remembered per target
MAX_KEPT_CODE_READS = 1 << 16     # (address, size) code reads remembered per target
ReadRva = Callable[[int, int], bytes]


@dataclass(frozen=True)
class ModuleImage:
    """A module's PE headers and a reader by RVA (dump memory first, then the file)."""

    module: Module
    source: str                                  # "dump" | "file"
    code_ranges: Tuple[Tuple[int, int], ...]     # executable sections, RVAs [start, end)
    exception_dir: Tuple[int, int]               # (rva, size) of .pdata, (0, 0) when none
    read_rva: ReadRva

    def is_code_rva(self, rva: int) -> bool:
        return any(s <= rva < e for s, e in self.code_ranges)


@functools.lru_cache(maxsize=256)
def _parse_headers(header: bytes) -> Optional[Tuple[Tuple[Tuple[int, int], ...], Tuple[int, int]]]:
    """Code ranges and exception directory of a PE header page. Cached by the bytes (a bounded
    LRU): every dump of the same process image repeats the same headers, and pefile takes
    ~0.5 ms a module for them."""
    import pefile

    if header[:2] != b"MZ":
        return None
    try:
        pe = pefile.PE(data=header, fast_load=True)
        ranges = tuple((s.VirtualAddress, s.VirtualAddress + max(s.Misc_VirtualSize, s.SizeOfRawData))
                       for s in pe.sections
                       if s.Characteristics & (IMAGE_SCN_MEM_EXECUTE | IMAGE_SCN_CNT_CODE))
        dirs = pe.OPTIONAL_HEADER.DATA_DIRECTORY
        exc = (dirs[3].VirtualAddress, dirs[3].Size) if len(dirs) > 3 else (0, 0)
    except Exception:  # pefile raises PEFormatError and assorted others on hostile headers
        return None
    return ranges, exc


class WalkContext:
    """Per-target caches and questions shared by the walker, the scan and the patch check."""

    def __init__(self, target: Target, resolver: Any = None) -> None:
        self.target = target
        self.arch = target.arch
        self.pointer_size = target.pointer_size
        # the call-site table's encodings: x86's, else x64's (ARM64 has none of its own yet)
        self.callsite_arch = Arch.X86 if self.arch is Arch.X86 else Arch.AMD64
        self.resolver = resolver
        self.modules = ModuleIndex(target.modules())
        mods = self.modules.modules
        # (lowest, highest) value whose preceding byte may lie in a module; empty when none
        self._span = ((max(4096, mods[0].base + 1), max(m.end for m in mods)) if mods
                      else (1, 0))
        self.problems: List[Problem] = []
        self._images: Dict[int, Optional[ModuleImage]] = {}
        self._files: Dict[int, Optional[Any]] = {}
        self._file_paths: Dict[int, Any] = {}
        self._unwind: Dict[int, Any] = {}
        self._tables: Dict[int, Any] = {}
        self._symbols: Dict[int, Any] = {}
        self._exports: Dict[int, Optional[Tuple[np.ndarray, Tuple[str, ...]]]] = {}
        self.notes: Dict[Any, Any] = {}          # per-walk scratch (reset by the walker)
        maker = getattr(target, "try_reader", None)
        self._try_read: Callable[[int, int], Optional[bytes]] = (
            maker() if maker is not None else self._try_read_raising)
        self._unpack = struct.Struct("<Q" if self.pointer_size == 8 else "<I").unpack_from
        self._stack_lo = 0
        self._stack_last = -1                    # highest offset a pointer read may start at
        self._stack = b""
        self._valid_return: Dict[int, bool] = {}
        self._call_lengths: Dict[int, Optional[int]] = {}
        # (address, caller) -> Location: threads of one process share their return addresses
        self._locations: Dict[Tuple[int, bool], Any] = {}
        self._code: Dict[Tuple[int, int], Optional[bytes]] = {}    # (address, size) -> bytes

    # ---- memory -------------------------------------------------------------------------------

    def _try_read_raising(self, address: int, size: int) -> Optional[bytes]:
        """``try_read`` for targets that only have the raising ``read`` (pykd, traces)."""
        try:
            return self.target.read(address, size)
        except UnreadableMemory:
            return None

    def use_stack(self, start: Optional[int], end: Optional[int]) -> None:
        """Read the thread's stack [start, end) once; pointer reads inside it are then one
        unpack from that copy instead of a trip through the target's memory map."""
        self._stack_lo, self._stack_last, self._stack = 0, -1, b""
        if start is None or end is None or end <= start:
            return
        data = self._try_read(start, end - start)
        if data is not None:
            self._stack_lo, self._stack = start, data
            self._stack_last = len(data) - self.pointer_size

    def read(self, address: int, size: int) -> bytes:
        """Stack/data memory from the dump (raises UnreadableMemory)."""
        raw = self._try_read(address, size) if address >= 0 else None
        if raw is None:
            raise UnreadableMemory(address, size)
        return raw

    def try_read(self, address: int, size: int) -> Optional[bytes]:
        """Like ``read``, None instead of UnreadableMemory."""
        return self._try_read(address, size) if address >= 0 else None

    def read_pointer(self, address: int) -> Optional[int]:
        off = address - self._stack_lo
        if 0 <= off <= self._stack_last:
            return self._unpack(self._stack, off)[0]
        raw = self._try_read(address, self.pointer_size) if address >= 0 else None
        return None if raw is None else int.from_bytes(raw, "little")

    def stack_words(self, start: int, count: int, end: Optional[int] = None) -> List[int]:
        """Up to ``count`` pointer-sized words from ``start`` upward, none reaching past ``end``,
        stopping before the first unreadable one: what a scan looks at, as one numpy view of
        the thread's stack copy where it lies there, word by word beyond it."""
        ps = self.pointer_size
        if end is not None:
            count = min(count, max(0, (end - start) // ps))
        off = start - self._stack_lo
        words: List[int] = []
        if count > 0 and 0 <= off <= self._stack_last:
            inside = min(count, (len(self._stack) - off) // ps)
            words = np.frombuffer(self._stack, "<u8" if ps == 8 else "<u4", inside,
                                  off).tolist()
        for i in range(len(words), count):
            value = self.read_pointer(start + i * ps)
            if value is None:
                break
            words.append(value)
        return words

    def in_modules(self, values: List[int]) -> List[int]:
        """Indexes of the ``values`` that ``seems_valid_return`` may accept: at least 4096 and
        the byte before them between the lowest module's base and the highest one's end. Most
        stack words are not (counts, flags, heap and stack pointers), and two comparisons per
        word spare the module lookup."""
        lo, hi = self._span
        return [i for i, v in enumerate(values) if lo <= v <= hi]

    def read_code(self, address: int, size: int) -> bytes:
        """Code bytes: the dump's copy when it has one, else the image file's (by RVA)."""
        raw = self.try_read_code(address, size)
        if raw is None:
            raise UnreadableMemory(address, size)
        return raw

    def try_read_code(self, address: int, size: int) -> Optional[bytes]:
        """Like ``read_code``, None instead of UnreadableMemory."""
        raw = self.try_read(address, size)
        if raw is not None:
            return raw
        module = self.modules.find(address)
        if module is None:
            return None
        pe = self._file_image(module)
        if pe is None:
            return None
        try:
            data = pe.get_data(address - module.base, size)
        except Exception:  # pefile: RVA outside every section
            return None
        return data if len(data) == size else None

    # ---- modules and images -------------------------------------------------------------------

    def module_at(self, address: int) -> Optional[Module]:
        return self.modules.find(address)

    def _file_image(self, module: Module) -> Optional[Any]:
        """The module's binary from the symbol path (a pefile.PE), found by code id."""
        if module.base in self._files:
            return self._files[module.base]
        pe = None
        locator = getattr(self.resolver, "locator", None)
        if locator is not None and module.code_id:
            try:
                located = locator.find_code_file(module.name, module.code_id)
            except DumpkitError as exc:
                located = None
                self.problems.append(Problem("stackwalk.image_lookup", str(exc)))
            if located is not None:
                key = module_cache.file_key(located.path)
                pe = module_cache.FILE_IMAGES.get(key) if key is not None else None
                if pe is None:
                    import pefile
                    try:
                        pe = pefile.PE(str(located.path), fast_load=True)
                        if key is not None:
                            module_cache.FILE_IMAGES.put(key, pe)
                    except Exception as exc:  # a hostile or torn file on the symbol path
                        self.problems.append(Problem("stackwalk.image_unreadable",
                                                     f"{located.path}: {exc}"))
                if pe is not None:
                    self._file_paths[module.base] = located.path
        self._files[module.base] = pe
        return pe

    def image(self, module: Module) -> Optional[ModuleImage]:
        if module.base in self._images:
            return self._images[module.base]
        found: Optional[ModuleImage] = None
        try:
            header = self.read(module.base, min(HEADER_SIZE, module.size or HEADER_SIZE))
            source = "dump"
        except UnreadableMemory:
            pe = self._file_image(module)
            header = pe.__data__[:HEADER_SIZE] if pe is not None else b""
            source = "file"
        parsed = _parse_headers(bytes(header)) if header else None
        if parsed is not None:
            base = module.base

            def read_rva(rva: int, size: int, _base: int = base, _m: Module = module) -> bytes:
                return self.read_code(_base + rva, size)

            found = ModuleImage(module, source, parsed[0], parsed[1], read_rva)
        self._images[module.base] = found
        return found

    def is_code(self, address: int) -> bool:
        """In a module, and in an executable section when the headers are known."""
        module = self.modules.find(address)
        if module is None:
            return False
        image = self.image(module)
        if image is None or not image.code_ranges:
            return True                  # headers unknown: the whole module counts (Breakpad)
        return image.is_code_rva(address - module.base)

    # ---- symbols ------------------------------------------------------------------------------

    def symbols(self, module: Module) -> Any:
        """The resolver's ModuleSymbols (None without a resolver or on trouble)."""
        if self.resolver is None:
            return None
        if module.base not in self._symbols:
            try:
                self._symbols[module.base] = self.resolver.symbols_for(module)
            except DumpkitError as exc:
                self.problems.append(Problem("stackwalk.symbols", str(exc)))
                self._symbols[module.base] = None
        return self._symbols[module.base]

    def has_function(self, address: int) -> Optional[bool]:
        """True/False when the module has debug symbols (PDB/.sym), None when it has none."""
        module = self.modules.find(address)
        if module is None:
            return False
        syms = self.symbols(module)
        if syms is None or syms.table is None or syms.kind not in ("pdb", "sym"):
            return None
        func, _ = syms.table.lookup(np.array([address - module.base]))
        return bool(func[0] >= 0)

    def seems_valid_ip(self, address: int) -> bool:
        """Breakpad's InstructionAddressSeemsValid: code in a module, in a function if symbols."""
        return self.is_code(address) and self.has_function(address) is not False

    def knows_code(self, address: int) -> bool:
        """Is more known of ``address``'s module than its range: section headers (the image),
        or debug symbols? Without either, "code" means only "inside the module"."""
        module = self.modules.find(address)
        if module is None:
            return False
        image = self.image(module)
        return bool(image is not None and image.code_ranges) or self.has_function(address) is not None

    def seems_valid_return(self, address: int) -> bool:
        """Could ``address`` be a caller's return address? Its call site, the byte before it,
        must pass ``seems_valid_ip``: a module's base (``ntdll+0x0``) or a function's entry
        point is the byte after a header or another function's padding, never after a CALL."""
        known = self._valid_return.get(address)
        if known is None:
            # the answer depends only on this target's modules, images and symbols, and a scan
            # meets the same values again and again (on one stack and across threads)
            known = self._valid_return[address] = (address >= 4096
                                                   and self.seems_valid_ip(address - 1))
        return known

    def location(self, address: int, *, caller: bool = False) -> Any:
        """A symbolized Location (lookup at address-1 for return addresses), or None.

        Symbols from the resolver first; when it has no function for the address (no symbol
        file, no image on the symbol path), the nearest export of the image in the dump.
        Answers are kept per address (Locations are immutable); a lookup that reported a
        problem is not kept, so the problem is reported each time as before.
        """
        key = (address, caller)
        known = self._locations.get(key)
        if known is not None:
            return known
        problems = len(self.problems)
        loc = self._location(address, caller)
        if loc is not None and len(self.problems) == problems \
                and len(self._locations) < MAX_KEPT_LOCATIONS:
            self._locations[key] = loc
        return loc

    def code_bytes(self, address: int, size: int) -> bytes:
        """``read_code`` remembered per (address, size), unreadable answers too: code does not
        change, and the threads of one process return into the same few functions, so the x64
        epilog check (which tries 64, 16, 8 ... bytes at each return address) would otherwise
        repeat the same failing reads through the dump and the image file for every thread."""
        key = (address, size)
        if key in self._code:
            raw = self._code[key]
        else:
            found = self.try_read_code(address, size)
            raw = None if found is None else bytes(found)
            if len(self._code) < MAX_KEPT_CODE_READS:
                self._code[key] = raw
        if raw is None:
            raise UnreadableMemory(address, size)
        return raw

    def _location(self, address: int, caller: bool) -> Any:
        module = self.modules.find(address)
        if module is None:
            return None
        from toolkit.symbols.location import Location
        at = address - 1 if caller else address
        loc = None
        if self.resolver is not None:
            try:
                loc = self.resolver.lookup(module, at)
            except DumpkitError as exc:
                self.problems.append(Problem("stackwalk.symbols", str(exc)))
        if loc is None or loc.symbol is None:
            loc = self._export_location(module, at, loc) or loc
        if loc is not None and caller:
            # the constructor, not dataclasses.replace (once per caller frame of every walk)
            loc = Location(address, loc.module, loc.module_base, loc.symbol,
                           loc.displacement + 1, loc.file, loc.line, loc.column, loc.inlines,
                           loc.status, loc.reason)
        return loc

    def _export_location(self, module: Module, address: int, base: Any) -> Any:
        from toolkit.symbols.location import Location, SymbolStatus
        exports = self.memory_exports(module)
        if exports is None:
            return None
        rvas, names = exports
        rva = address - module.base
        i = int(np.searchsorted(rvas, rva, side="right")) - 1
        if i < 0:
            return None
        reason = "named by the nearest preceding export of the image in the dump's memory"
        if base is not None and base.reason:
            reason = f"{base.reason}; {reason}"
        return Location(address, module.name, module.base, names[i], rva - int(rvas[i]),
                        status=SymbolStatus.EXPORT, reason=reason)

    def memory_exports(self, module: Module) -> Optional[Tuple[np.ndarray, Tuple[str, ...]]]:
        """Sorted (RVAs, names) of the named code exports of ``module``'s image in the dump.

        Forwarders (their RVA points at a string) and exports outside executable sections
        (data) are left out, so a frame is never named after a variable; of several names at
        one RVA the alphabetically first is kept (NtX before ZwX). None when the dump
        holds no such image or its export directory is unreadable.
        """
        if module.base in self._exports:
            return self._exports[module.base]
        from toolkit.targets.pe.image import image_in_target
        found = None
        try:
            pe = image_in_target(self.target, module)
            exports = pe.exports() if pe is not None else []
        except DumpkitError as exc:
            self.problems.append(Problem("stackwalk.exports", f"{module.name}: {exc}"))
            exports = []
        image = self.image(module) if exports else None
        named = sorted((e.rva, e.name) for e in exports
                       if e.name and e.forwarder is None
                       and (image is None or not image.code_ranges or image.is_code_rva(e.rva)))
        first: Dict[int, str] = {}
        for rva, name in named:          # sorted: the first alias per RVA wins
            first.setdefault(rva, name)
        if first:
            found = (np.array(list(first), dtype=np.int64), tuple(first.values()))
        self._exports[module.base] = found
        return found

    # ---- unwind data --------------------------------------------------------------------------

    def unwind_data(self, module: Module) -> Any:
        """x64 ImageUnwindData of the module, or None (no image, no .pdata, unreadable)."""
        if module.base in self._unwind:
            return self._unwind[module.base]
        from toolkit.unwind.amd64_unwind_info import ImageUnwindData
        data = None
        image = self.image(module)
        if image is not None and image.exception_dir[0] and image.exception_dir[1]:
            try:
                data = ImageUnwindData(image.read_rva, *image.exception_dir)
            except (DumpkitError, ValueError) as exc:
                self.problems.append(Problem("stackwalk.pdata", f"{module.name}: {exc}"))
        self._unwind[module.base] = data
        return data

    def stack_table(self, module: Module) -> Any:
        """x86 STACK WIN/CFI records: the module's Breakpad .sym, else its PDB via CfiCache."""
        if module.base in self._tables:
            return self._tables[module.base]
        from toolkit.unwind.breakpad_stack import BreakpadStackTable, stack_lines
        table = None
        found = self._debug_file(module)
        debug_id = self._debug_id(module)
        save = getattr(self.resolver, "save_unwind", None)
        if found is not None:
            try:
                key = module_cache.file_key(found.path)
                cached = module_cache.STACK_TABLES.get(key) if key is not None else None
                if cached is None:
                    records = stack_lines(found.path, found.kind)
                    table = BreakpadStackTable.from_text(records)
                    if key is not None:
                        module_cache.STACK_TABLES.put(key, (records, table))
                else:
                    records, table = cached
                if save is not None and debug_id is not None:
                    save(debug_id, found.path, records)
            except Exception as exc:  # symbolic's own errors on unreadable PDBs
                self.problems.append(Problem("stackwalk.stack_records",
                                             f"{found.path.name}: {exc}"))
        elif debug_id is not None and save is not None:
            # No symbol file on the path: the cache may still hold what an earlier run read.
            cached = self.resolver.cached_unwind(debug_id)
            if cached is not None:
                table = BreakpadStackTable.from_text(cached)
            elif self.symbols(module) is not None and getattr(self.symbols(module),
                                                              "has_symbols", False):
                self.problems.append(Problem(
                    "stackwalk.cached_unwind",
                    f"{module.name}: its cached symbols carry no unwind data (STACK CFI/WIN); "
                    "the walk may fall back to scanning: give the symbol path to use them"))
        self._tables[module.base] = table
        return table

    def _debug_id(self, module: Module) -> Any:
        """The module's debug id, or its binary's when the dump names none."""
        if module.debug_id is not None:
            return module.debug_id
        path = self._file_paths.get(module.base)
        if path is None:
            return None
        from toolkit.symbols.resolver import identity_of_image
        return identity_of_image(path).debug_id

    def _debug_file(self, module: Module) -> Any:
        locator = getattr(self.resolver, "locator", None)
        if locator is None:
            return None
        debug_id, pdb_name = module.debug_id, module.pdb_name
        if debug_id is None:
            self._file_image(module)
            path = self._file_paths.get(module.base)
            if path is not None:
                from toolkit.symbols.resolver import identity_of_image
                ident = identity_of_image(path)
                debug_id, pdb_name = ident.debug_id, ident.pdb_name
        if debug_id is None:
            return None
        if not pdb_name:
            from toolkit.symbols.resolver import guess_pdb_name
            pdb_name = guess_pdb_name(module)
        pdb_name = pdb_name.replace("\\", "/").rsplit("/", 1)[-1]
        try:
            return locator.find_debug_file(pdb_name, debug_id, kinds=("sym", "pdb"))
        except DumpkitError as exc:
            self.problems.append(Problem("stackwalk.debug_file", str(exc)))
            return None

    # ---- call sites ---------------------------------------------------------------------------

    def call_length(self, address: int) -> Optional[int]:
        """Length of the CALL that ends exactly at ``address``, None when there is none."""
        if address in self._call_lengths:
            return self._call_lengths[address]
        found = None
        # every CALL form covers the two bytes before the address: without them (most scan
        # candidates of a minidump without module memory), none of the seven reads can succeed
        if self.try_read_code(address - 2, 2) is not None:
            found = call_length_at(self.read_code, address, self.callsite_arch,
                                   try_read=self.try_read_code)
        self._call_lengths[address] = found
        return found


__all__ = ["WalkContext", "ModuleImage"]
