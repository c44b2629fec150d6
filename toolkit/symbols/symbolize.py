"""The engine behind ``dumpkit symbolize``: input lines in, one result per line out, streaming.

Accepted lines (blank lines and ``#`` comments are skipped)::

    0x402a3d  /  402a3d            an address; needs a module table (dump, --modules, trace)
    crash.exe+0x2a3d / crash+2a3d  a module-relative offset; module from the table, else found
                                   by name on the symbol path (its CodeView record gives the id,
                                   its SizeOfImage the module's size)
    crash!main+0x12d               a symbol plus displacement, resolved back to an address

Lines are taken in chunks and resolved with the batched array path (batch.py); only inline
chains go back to the SymCache per address. A line that cannot be used becomes a result with
an ``error`` — never an exception — so one bad line does not cost the other million.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, BinaryIO, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from toolkit.model.debug_id import DebugId
from toolkit.model.errors import InputError
from toolkit.model.hexfmt import hex_addr
from toolkit.symbols.batch import BatchSymbolizer
from toolkit.symbols.location import Location, module_label
from toolkit.symbols.module_index import ModuleIndex
from toolkit.symbols.resolver import Resolver
from toolkit.symbols.text_format import STATUS_TAGS, EntryTexts, Escape
from toolkit.symbols.text_lines import BLOCK, HexLines, parse_block, read_blocks, text_lines
from toolkit.model.target import Module, fits_address_space

CHUNK = 65536


def _unchanged(text: str) -> str:
    return text

_NAME_ONLY_BASE = 1 << 48          # synthetic bases for modules known only by name
_NAME_ONLY_SIZE = 1 << 32
_HEX = r"(?:0[xX])?([0-9a-fA-F]{1,16})"
_ADDRESS = re.compile(rf"^{_HEX}$")
_MODULE_OFFSET = re.compile(rf"^([^!+\s]+)\+{_HEX}$")
_MODULE_SYMBOL = re.compile(rf"^([^!\s]+)!(.+?)(?:\+{_HEX})?$")


@dataclass(frozen=True)
class LineResult:
    """One input line's answer: a location, or an error saying why the line was not usable."""

    line_no: int
    text: str
    location: Optional[Location] = None
    error: Optional[str] = None

    def to_json(self, pointer_size: int = 8) -> Dict[str, Any]:
        out: Dict[str, Any] = {"input_line": self.line_no, "input": self.text}
        if self.location is not None:
            out.update(self.location.to_json(pointer_size))
        else:
            out.update({"status": "error", "error": self.error})
        return out


def module_from_json(item: Dict[str, Any]) -> Module:
    """A ``--modules`` entry: name, base, size, debug_id, pdb_name, code_id or timestamp +
    size_of_image. Numbers may be ints or hex strings. InputError on anything unusable."""
    def num(key: str) -> Optional[int]:
        value = item.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise InputError(f"--modules: {key} must be a number or hex string, not {value!r}")
        try:
            return value if isinstance(value, int) else int(value, 0)
        except ValueError:
            raise InputError(f"--modules: {key} {value!r} is not a number") from None

    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise InputError("--modules: every entry needs a \"name\" string")
    base, size = num("base"), num("size")
    if base is None or size is None or size <= 0:
        raise InputError(f"--modules: {item['name']} needs a base and a positive size")
    if not fits_address_space(base, size):
        raise InputError(f"--modules: {item['name']}: base {base:#x} + size {size:#x} is "
                         "outside the 64-bit address space")
    timestamp, size_of_image = num("timestamp"), num("size_of_image")
    code_id = item.get("code_id")
    if isinstance(code_id, str) and len(code_id) > 8 and timestamp is None:
        try:
            timestamp, size_of_image = int(code_id[:8], 16), int(code_id[8:], 16)
        except ValueError:
            raise InputError(f"--modules: bad code_id {code_id!r}") from None
    debug_id = None
    if item.get("debug_id"):
        try:
            debug_id = DebugId.parse(str(item["debug_id"]))
        except ValueError as exc:
            raise InputError(f"--modules: {exc}") from None
    return Module(base, size, item["name"], timestamp, None, size_of_image, debug_id,
                  item.get("pdb_name"))


class Symbolizer:
    """Resolves input lines against a module table, chunk by chunk."""

    def __init__(self, resolver: Resolver, modules: Sequence[Module] = (), *,
                 lines: bool = True, inlines: bool = False) -> None:
        self.resolver = resolver
        self.modules = list(modules)
        self.lines = lines
        self.inlines = inlines
        self._given = ModuleIndex(self.modules)      # the table given, for lookups by name
        self._by_name: Dict[str, Module] = {}
        self._entries: Dict[int, Tuple[Any, Dict[str, int]]] = {}   # id(table) -> name -> RVA
        self._stale = False
        self._entry_texts: Optional[EntryTexts] = None     # text pieces of the current table
        self._rebuild()

    def _rebuild(self) -> None:
        self.index = ModuleIndex(self.modules + list(self._by_name.values()))
        self.batch = BatchSymbolizer(self.resolver, self.index)

    def _module_named(self, name: str) -> Module:
        """A module of the table by file name, else a name-only module (debug id from its PE)."""
        found = self._given.by_name(name)
        if found is not None:
            return found
        key = name.lower()
        if key not in self._by_name:
            base = _NAME_ONLY_BASE + len(self._by_name) * _NAME_ONLY_SIZE
            # The binary on the symbol path bounds the module (SizeOfImage), so an offset past
            # its end is reported as such; with no binary, any 32-bit offset is accepted.
            ident = self.resolver.image_identity(Module(base, _NAME_ONLY_SIZE, name))
            size = ident.size_of_image if ident is not None and ident.size_of_image else \
                _NAME_ONLY_SIZE
            self._by_name[key] = Module(base, size, name)
            # Parsing needs only the module's base and size; the index is rebuilt once per
            # chunk (in _chunk), not per new name, which was quadratic in distinct names.
            self._stale = True
        return self._by_name[key]

    def run(self, lines: Iterable[str]) -> Iterator[LineResult]:
        chunk: List[Tuple[int, str]] = []
        for number, raw in enumerate(lines, 1):
            text = raw.strip()
            if not text or text.startswith("#"):
                continue
            chunk.append((number, text))
            if len(chunk) >= CHUNK:
                yield from self._chunk(chunk)
                chunk = []
        if chunk:
            yield from self._chunk(chunk)

    def run_addresses(self, addresses: np.ndarray) -> List[Location]:
        """Absolute addresses (a trace's events), all through the batched path."""
        result = self.batch(addresses)
        return list(result.locations(self.resolver, lines=self.lines, inlines=self.inlines))

    def addresses_text(self, addresses: np.ndarray, pointer_size: int = 8,
                       escape: Escape = _unchanged) -> List[str]:
        """The text of each absolute address (a trace's frames), as ``format_result`` prints
        its ``Location`` (inline frames on lines of their own), through the batched path."""
        result = self.batch(addresses)
        return self._texts(result, np.zeros(len(result), bool), pointer_size, escape)

    def _prepare(self, chunk: Sequence[Tuple[int, str]]) -> Tuple[List[Optional[str]],
                                                                   List[bool], Any]:
        """Parse a chunk and resolve its usable lines in one batch: (errors, relative, result)."""
        values: List[int] = []
        errors: List[Optional[str]] = [None] * len(chunk)
        relative: List[bool] = [False] * len(chunk)
        for i, (_, text) in enumerate(chunk):
            try:
                value, relative[i] = self._parse(text)
                values.append(value)
            except InputError as exc:
                errors[i] = str(exc)
        if self._stale:
            self._rebuild()
            self._stale = False
        return errors, relative, self.batch(np.array(values, dtype=np.uint64))

    def _chunk(self, chunk: Sequence[Tuple[int, str]]) -> Iterator[LineResult]:
        errors, relative, result = self._prepare(chunk)
        pos = 0
        for i, (number, text) in enumerate(chunk):
            if errors[i] is not None:
                yield LineResult(number, text, error=errors[i])
                continue
            yield LineResult(number, text, self._located(result, pos, relative[i]))
            pos += 1

    def _located(self, result: Any, pos: int, relative: bool) -> Location:
        loc = result.location(pos, self.resolver, lines=self.lines, inlines=self.inlines)
        if relative:      # a name-only module: report the offset, not the synthetic base
            return dataclasses.replace(loc, address=loc.address - (loc.module_base or 0),
                                       module_base=None)
        if loc.module is None:
            return dataclasses.replace(loc, reason="no module contains the address"
                                       if len(self.modules) else
                                       "no module table (give --dump, --modules or a trace)")
        return loc

    def text_blocks(self, stream: BinaryIO, pointer_size: int = 8,
                    escape: Escape = _unchanged, block_size: int = BLOCK) -> Iterator[str]:
        """The text view of ``run`` over a byte stream: ``format_result`` of each line (split
        at its inline frames, each output line passed through ``escape``), one string of
        whole lines per block of input (about a megabyte), so memory stays constant.

        Why not ``format_result(r) for r in run(...)``: at a million lines a second a ``str``,
        a ``LineResult`` and a ``Location`` per line are most of the cost. Bare addresses are
        parsed as arrays (text_lines.py) and formatted per table entry (text_format.py); only
        other lines are parsed one by one, and only what the arrays cannot answer (inlines,
        a per-address resolver) goes through ``Location`` — the same text either way.
        """
        for block in read_blocks(stream, block_size):
            lines = parse_block(block)
            texts = self._block_text(block, lines, pointer_size, escape)
            if texts:
                yield "\n".join(texts) + "\n"

    def _block_text(self, block: bytes, lines: HexLines, ptr: int,
                    escape: Escape) -> List[str]:
        others = np.flatnonzero(~lines.address & ~lines.empty)
        if not len(others):       # the common case: every line a bare address (or empty)
            return self._texts(self.batch(lines.values), np.zeros(len(lines.values), bool),
                               ptr, escape)
        at: List[int] = []                 # line index of each parsed item, in order
        values: List[int] = []
        relative: List[bool] = []
        errors: List[Optional[str]] = []
        for i in others.tolist():
            for text in text_lines(block[lines.starts[i]:lines.ends[i]]):
                if not text or text[0] == "#":
                    continue
                at.append(i)
                try:
                    value, rel = self._parse(text)
                    values.append(value)
                    relative.append(rel)
                    errors.append(None)
                except InputError as exc:
                    values.append(0)
                    relative.append(False)
                    errors.append(escape(f"{text}: error: {exc}"))
        if self._stale:                    # new name-only modules: one rebuild per block
            self._rebuild()
            self._stale = False
        order = np.argsort(np.concatenate((np.flatnonzero(lines.address),
                                           np.array(at, dtype=np.int64))), kind="stable")
        n_addr = len(lines.values)
        is_error = np.concatenate((np.zeros(n_addr, bool),
                                   np.array([e is not None for e in errors], bool)))[order]
        all_values = np.concatenate((lines.values, np.array(values, dtype=np.uint64)))[order]
        all_relative = np.concatenate((np.zeros(n_addr, bool), np.array(relative, bool)))[order]
        usable = ~is_error
        texts = self._texts(self.batch(all_values[usable]), all_relative[usable], ptr, escape)
        if not is_error.any():
            return texts
        out = np.empty(len(order), dtype=object)
        out[usable] = texts
        error_text = np.array([None] * n_addr + errors, dtype=object)[order]
        out[is_error] = error_text[is_error]
        return out.tolist()

    def _texts(self, result: Any, relative: np.ndarray, ptr: int, escape: Escape) -> List[str]:
        """The text of each address of ``result`` (inline frames make it several lines)."""
        entries = self._entry_texts
        if entries is None or entries.table is not result.table or entries.escape is not escape:
            entries = self._entry_texts = EntryTexts(
                result.table, result.index.modules, result.symbols, lines=self.lines,
                escape=escape, per_address=self.inlines or
                getattr(self.resolver, "answers_per_address", False))
        texts = entries.format(result, relative, ptr)
        for pos in [i for i, text in enumerate(texts) if text is None] if None in texts else ():
            loc = self._located(result, pos, bool(relative[pos]))
            texts[pos] = "\n".join(escape(piece) for piece in
                                   format_result(LineResult(0, "", loc), ptr).split("\n"))
        return texts  # type: ignore[return-value]

    def _parse(self, text: str) -> Tuple[int, bool]:
        """(absolute or synthetic address, whether it is relative to a name-only module)."""
        m = _ADDRESS.match(text)
        if m:
            return int(m.group(1), 16), False
        m = _MODULE_OFFSET.match(text)
        if m:
            module = self._module_named(m.group(1))
            return self._inside(module, int(m.group(2), 16), text)
        m = _MODULE_SYMBOL.match(text)
        if m:
            module = self._module_named(m.group(1))
            rva = self._symbol_rva(module, m.group(2))
            return self._inside(module, rva + int(m.group(3) or "0", 16), text)
        raise InputError("not an address, module+offset or module!symbol+offset")

    def _inside(self, module: Module, offset: int, text: str) -> Tuple[int, bool]:
        if offset >= module.size:
            raise InputError(f"offset {offset:#x} is past the end of {module.name} "
                             f"(size {module.size:#x})")
        return module.base + offset, module.base >= _NAME_ONLY_BASE

    def _symbol_rva(self, module: Module, symbol: str) -> int:
        syms = self.resolver.symbols_for(module)
        if syms.table is None:
            raise InputError(f"no symbols for {module.name}: {syms.reason or 'not loaded'}")
        rva = self._entry_points(syms.table).get(symbol)
        if rva is None:
            raise InputError(f"{module.name} has no function named {symbol}")
        return rva

    def _entry_points(self, table: Any) -> Dict[str, int]:
        """Function name -> entry RVA for one table, built once: the full name and the name
        without its parameter list both match; the first function in table order wins."""
        cached = self._entries.get(id(table))
        if cached is not None and cached[0] is table:
            return cached[1]
        entries: Dict[str, int] = {}
        for name, entry in zip(table.func_names, table.func_entry.tolist()):
            entries.setdefault(name, entry)
            entries.setdefault(name.split("(", 1)[0], entry)
        self._entries[id(table)] = (table, entries)     # the table is kept alive with its id
        return entries


_TAGS = STATUS_TAGS


def format_result(result: LineResult, pointer_size: int = 8) -> str:
    """The text line for one result (errors as ``input: error: reason``)."""
    if result.location is None:
        return f"{result.text}: error: {result.error}"
    loc = result.location
    text = loc.format(pointer_size)
    if loc.module is None:
        return f"{hex_addr(loc.address, pointer_size)}  (no module)"
    tag = _TAGS.get(loc.status.value, "")
    # Inline frames first, innermost first, the way WinDbg's ``k`` lists them.
    inline = [f"{loc.module_label}!{frame.function}"
              + (f" [{frame.file} @ {frame.line}]" if frame.file and frame.line else "")
              + " (inline)" for frame in loc.inlines]
    return "\n".join(inline + [text + tag])


__all__ = ["LineResult", "Symbolizer", "module_from_json", "format_result", "CHUNK"]
