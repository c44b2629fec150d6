"""``PeImage``: a PE image read from a file (file layout) or from a target's memory (mapped).

pefile reads the container (headers, sections, exports): it is right for files. It is not
right for a mapped image (it would read directories at file offsets), so for memory dumpkit
reads everything by RVA through the Target, and hands pefile only the header page. The debug
directory, its records and the size-versioned load config are decoded with ``parsers/``.

Trust: every input is hostile. Header damage raises ``CorruptInput`` (``InputError`` for "not
a PE at all"); damage inside a directory becomes a ``Problem`` on the image, so one bad
directory does not hide the others.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import pefile
from construct import ConstructError

from parsers.codeview import CodeViewInfo
from parsers.load_config import LOAD_CONFIG_FULL_SIZE32, LOAD_CONFIG_FULL_SIZE64, \
    SEHANDLER_TABLE, load_config_layout
from parsers.pe_cor20 import IMAGE_COR20_HEADER_HEAD
from parsers.pe_debug import IMAGE_DEBUG_DIRECTORY, IMAGE_DEBUG_DIRECTORY_SIZE
from toolkit.model.debug_id import DebugId, code_id
from toolkit.model.errors import CorruptInput, DumpkitError, InputError, UnreadableMemory
from toolkit.model.hexfmt import hex_addr, hex_int
from toolkit.targets.pe.exports import Export, read_exports
from toolkit.targets.pe.records import DebugEntry, LoadConfig, decode_debug_entry, decode_load_config
from toolkit.model.target import Arch, Module, Problem

IMAGE_DLLCHARACTERISTICS = {
    0x0020: "HIGH_ENTROPY_VA", 0x0040: "DYNAMIC_BASE", 0x0080: "FORCE_INTEGRITY",
    0x0100: "NX_COMPAT", 0x0200: "NO_ISOLATION", 0x0400: "NO_SEH", 0x0800: "NO_BIND",
    0x1000: "APPCONTAINER", 0x2000: "WDM_DRIVER", 0x4000: "GUARD_CF",
    0x8000: "TERMINAL_SERVER_AWARE",
}
MACHINES = {0x14C: Arch.X86, 0x8664: Arch.AMD64, 0xAA64: Arch.ARM64, 0x1C4: Arch.ARM,
            0x1C0: Arch.ARM}
DIR_EXPORT, DIR_EXCEPTION, DIR_DEBUG, DIR_LOAD_CONFIG, DIR_COM = 0, 3, 6, 10, 14
MAX_DEBUG_ENTRIES = 64
MAX_DEBUG_PAYLOAD = 16 << 20
MAX_LOAD_CONFIG = 0x1000
HEADER_READ = 0x1000

ReadRva = Callable[[int, int], bytes]


@dataclass(frozen=True)
class Section:
    name: str
    virtual_address: int
    virtual_size: int
    pointer_to_raw_data: int
    size_of_raw_data: int
    characteristics: int

    def to_json(self) -> Dict[str, Any]:
        return {"name": self.name, "virtual_address": hex_int(self.virtual_address),
                "virtual_size": hex_int(self.virtual_size),
                "pointer_to_raw_data": hex_int(self.pointer_to_raw_data),
                "size_of_raw_data": hex_int(self.size_of_raw_data),
                "characteristics": hex_int(self.characteristics)}


@dataclass(frozen=True)
class PeImage:
    """What dumpkit knows about one PE image. Build with ``from_bytes``/``from_file``/``from_target``."""

    name: str
    layout: str                             # "file" | "mapped"
    machine: int
    arch: Arch
    image_base: int                         # the preferred base (file) or the load address (mapped)
    timestamp: int
    size_of_image: int
    checksum: int
    entry_point: int
    characteristics: int
    dll_characteristics: int
    sections: Tuple[Section, ...]
    debug_entries: Tuple[DebugEntry, ...]
    load_config: Optional[LoadConfig]
    cor20_flags: Optional[int]
    has_pdata: bool
    problems: Tuple[Problem, ...] = ()
    _exports: Callable[[], List[Export]] = field(default=lambda: [], repr=False, compare=False)

    # ---- construction -----------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: Union[str, "os.PathLike[str]"]) -> "PeImage":
        with open(path, "rb") as fh:
            data = fh.read()
        return cls.from_bytes(data, os.path.basename(os.fspath(path)))

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "") -> "PeImage":
        """A PE file's bytes (file layout)."""
        data = bytes(data)
        pe = _pefile(data, name)

        def read_rva(rva: int, size: int) -> bytes:
            try:
                off = pe.get_offset_from_rva(rva)
            except pefile.PEFormatError:
                off = None
            if off is None or off < 0 or off + size > len(data):
                raise CorruptInput(f"RVA {rva:#x}+{size:#x} is outside the file", path=name)
            return data[off:off + size]

        def read_file(off: int, size: int) -> Optional[bytes]:
            return data[off:off + size] if 0 < off and off + size <= len(data) else None

        def exports() -> List[Export]:
            return read_exports(pe)

        return _build(cls, pe, name, "file", pe.OPTIONAL_HEADER.ImageBase, read_rva, read_file,
                      exports)

    @classmethod
    def from_target(cls, target: Any, module: Module) -> "PeImage":
        """The image mapped at ``module.base`` in a target (a dump or a live process).

        Raises UnreadableMemory when the dump holds no header page for the module.
        """
        base = module.base
        header = _read_headers(target, base, module.size)
        pe = _pefile(header, module.name)

        def read_rva(rva: int, size: int) -> bytes:
            return target.read(base + rva, size)

        def exports() -> List[Export]:
            return read_exports(_pefile(_file_layout(pe, header, read_rva), module.name))

        return _build(cls, pe, module.name, "mapped", base, read_rva, lambda off, size: None,
                      exports)

    # ---- identity ---------------------------------------------------------------------------
    @property
    def pointer_size(self) -> int:
        return self.arch.pointer_size

    @property
    def codeview(self) -> Optional[CodeViewInfo]:
        for entry in self.debug_entries:
            if entry.codeview is not None and entry.codeview.debug_id is not None:
                return entry.codeview
        return None

    @property
    def debug_id(self) -> Optional[DebugId]:
        cv = self.codeview
        return cv.debug_id if cv else None

    @property
    def pdb_name(self) -> Optional[str]:
        cv = self.codeview
        return cv.pdb_name if cv else None

    @property
    def code_id(self) -> str:
        return code_id(self.timestamp, self.size_of_image)

    # ---- flags and tables -------------------------------------------------------------------
    @property
    def dll_characteristic_names(self) -> List[str]:
        return [n for bit, n in sorted(IMAGE_DLLCHARACTERISTICS.items())
                if self.dll_characteristics & bit]

    @property
    def no_seh(self) -> bool:
        return bool(self.dll_characteristics & 0x400)

    @property
    def il_only(self) -> bool:
        return bool(self.cor20_flags is not None and self.cor20_flags & 1)

    @property
    def safeseh_handlers(self) -> Tuple[int, ...]:
        return self.load_config.safeseh_handlers if self.load_config else ()

    def safeseh_contains(self, rva: int) -> bool:
        """Is ``rva`` a registered SafeSEH handler (binary search of the sorted table)?"""
        return bool(self.load_config and self.load_config.safeseh_contains(rva))

    def exports(self) -> List[Export]:
        """Exported names/ordinals/RVAs (forwarders keep their target string). Read on demand."""
        try:
            return self._exports()
        except (pefile.PEFormatError, UnreadableMemory, CorruptInput, ConstructError,
                ValueError) as exc:
            raise CorruptInput(f"{self.name}: export directory unreadable: {exc}") from None

    def section_for(self, rva: int) -> Optional[Section]:
        for s in self.sections:
            if s.virtual_address <= rva < s.virtual_address + max(s.virtual_size, s.size_of_raw_data):
                return s
        return None

    def to_json(self) -> Dict[str, Any]:
        ps = self.pointer_size
        return {
            "name": self.name, "layout": self.layout, "machine": hex_int(self.machine),
            "arch": self.arch.value, "image_base": hex_addr(self.image_base, ps),
            "timestamp": f"0x{self.timestamp:08x}", "size_of_image": hex_int(self.size_of_image),
            "checksum": hex_int(self.checksum), "code_id": self.code_id,
            "debug_id": str(self.debug_id) if self.debug_id else None,
            "pdb_name": self.pdb_name,
            "dll_characteristics": hex_int(self.dll_characteristics),
            "dll_characteristic_names": self.dll_characteristic_names,
            "il_only": self.il_only, "has_pdata": self.has_pdata,
            "sections": [s.to_json() for s in self.sections],
            "debug_directory": [e.to_json() for e in self.debug_entries],
            "load_config": self.load_config.to_json(self.image_base) if self.load_config else None,
            "problems": [p.to_json() for p in self.problems],
        }


def image_in_target(target: Any, module: Module) -> Optional[PeImage]:
    """``PeImage.from_target``, or None when the dump holds no header page for the module."""
    try:
        return PeImage.from_target(target, module)
    except UnreadableMemory:
        return None


# ---- helpers ----------------------------------------------------------------------------------
def _pefile(data: bytes, name: str) -> pefile.PE:
    if len(data) < 2 or data[:2] != b"MZ":
        raise InputError(f"{name or 'input'} is not a PE image (no MZ signature)")
    try:
        pe = pefile.PE(data=data, fast_load=True)
        pe.OPTIONAL_HEADER.DATA_DIRECTORY  # noqa: B018 - present on every parsed PE
    except pefile.PEFormatError as exc:
        raise CorruptInput(f"{name or 'input'}: malformed PE headers: {exc.value}") from None
    except (AttributeError, IndexError, ValueError, TypeError) as exc:
        raise CorruptInput(f"{name or 'input'}: malformed PE headers ({type(exc).__name__})") \
            from None
    return pe


def _read_headers(target: Any, base: int, size: int) -> bytes:
    """The header page; a dump may hold less than 0x1000 bytes of it, so fall back to 0x400."""
    for n in (min(HEADER_READ, size or HEADER_READ), 0x400):
        try:
            return target.read(base, n)
        except UnreadableMemory:
            continue
    raise UnreadableMemory(base, 0x400)


def _directory(pe: pefile.PE, index: int) -> Tuple[int, int]:
    dirs = pe.OPTIONAL_HEADER.DATA_DIRECTORY
    if index >= len(dirs):
        return 0, 0
    return dirs[index].VirtualAddress, dirs[index].Size


def _build(cls, pe: pefile.PE, name: str, layout: str, base: int, read_rva: ReadRva,
           read_file: Callable[[int, int], Optional[bytes]],
           exports: Callable[[], List[Export]]) -> PeImage:
    problems: List[Problem] = []
    opt, fh = pe.OPTIONAL_HEADER, pe.FILE_HEADER
    is64 = pe.PE_TYPE == pefile.OPTIONAL_HEADER_MAGIC_PE_PLUS
    arch = MACHINES.get(fh.Machine, Arch.UNKNOWN)
    if arch is Arch.UNKNOWN:
        arch = Arch.AMD64 if is64 else Arch.X86
        problems.append(Problem("pe-machine", f"unknown machine {fh.Machine:#x}"))
    sections = tuple(Section(s.Name.rstrip(b"\0").decode("latin1"), s.VirtualAddress,
                             s.Misc_VirtualSize, s.PointerToRawData, s.SizeOfRawData,
                             s.Characteristics) for s in pe.sections)
    entries = _debug_entries(pe, read_rva, read_file, problems)
    load_config = _load_config(pe, is64, base, read_rva, problems)
    cor20 = None
    rva, size = _directory(pe, DIR_COM)
    if rva and size:
        try:
            cor20 = int(_flags_value(IMAGE_COR20_HEADER_HEAD.parse(
                read_rva(rva, IMAGE_COR20_HEADER_HEAD.sizeof())).Flags))
        except (DumpkitError, ConstructError) as exc:
            problems.append(Problem("pe-cor20", f"CLR header unreadable: {exc}"))
    pdata_rva, pdata_size = _directory(pe, DIR_EXCEPTION)
    return cls(name=name, layout=layout, machine=fh.Machine, arch=arch, image_base=base,
               timestamp=fh.TimeDateStamp, size_of_image=opt.SizeOfImage, checksum=opt.CheckSum,
               entry_point=opt.AddressOfEntryPoint, characteristics=fh.Characteristics,
               dll_characteristics=opt.DllCharacteristics, sections=sections,
               debug_entries=tuple(entries), load_config=load_config, cor20_flags=cor20,
               has_pdata=bool(pdata_rva and pdata_size), problems=tuple(problems),
               _exports=exports)


def _flags_value(flags: Any) -> int:
    from parsers.pe_cor20 import COMIMAGE_FLAGS
    return sum(v for n, v in COMIMAGE_FLAGS.items() if flags.get(n)) | int(flags.get("_unknown", 0))


def _debug_entries(pe: pefile.PE, read_rva: ReadRva,
                   read_file: Callable[[int, int], Optional[bytes]],
                   problems: List[Problem]) -> List[DebugEntry]:
    rva, size = _directory(pe, DIR_DEBUG)
    if not rva or not size:
        return []
    count = size // IMAGE_DEBUG_DIRECTORY_SIZE
    if count > MAX_DEBUG_ENTRIES:
        problems.append(Problem("pe-debug-count", f"debug directory claims {count} entries; "
                                                  f"read the first {MAX_DEBUG_ENTRIES}"))
        count = MAX_DEBUG_ENTRIES
    try:
        raw = read_rva(rva, count * IMAGE_DEBUG_DIRECTORY_SIZE)
    except DumpkitError as exc:
        problems.append(Problem("pe-debug-directory", f"debug directory unreadable: {exc}"))
        return []
    out = []
    for i in range(count):
        entry = IMAGE_DEBUG_DIRECTORY.parse(raw[i * IMAGE_DEBUG_DIRECTORY_SIZE:])
        data = _debug_payload(entry, read_rva, read_file, problems, i)
        out.append(decode_debug_entry(i, entry, data))
    return out


def _debug_payload(entry: Any, read_rva: ReadRva,
                   read_file: Callable[[int, int], Optional[bytes]],
                   problems: List[Problem], index: int) -> Optional[bytes]:
    size = entry.SizeOfData
    if size == 0:
        return b""
    if size > MAX_DEBUG_PAYLOAD:
        problems.append(Problem("pe-debug-payload", f"debug entry {index}: SizeOfData {size:#x} "
                                                    "is implausible"))
        return None
    if entry.PointerToRawData:
        data = read_file(entry.PointerToRawData, size)
        if data is not None:
            return data
    if entry.AddressOfRawData:
        try:
            return read_rva(entry.AddressOfRawData, size)
        except DumpkitError as exc:
            problems.append(Problem("pe-debug-payload", f"debug entry {index}: {exc}"))
            return None
    problems.append(Problem("pe-debug-payload", f"debug entry {index}: payload not mapped "
                                                "(AddressOfRawData 0) and no file bytes"))
    return None


def _load_config(pe: pefile.PE, is64: bool, base: int, read_rva: ReadRva,
                 problems: List[Problem]) -> Optional[LoadConfig]:
    rva, dir_size = _directory(pe, DIR_LOAD_CONFIG)
    if not rva or not dir_size:
        return None
    try:
        declared = int.from_bytes(read_rva(rva, 4), "little")
    except DumpkitError as exc:
        problems.append(Problem("pe-load-config", f"load config unreadable: {exc}"))
        return None
    # Old linkers wrote a data-directory Size of 0x40 while the structure says 0x48; the
    # structure's own Size is what the loader honours.
    want = min(max(declared, 4), MAX_LOAD_CONFIG)
    raw, truncated = _read_prefix(read_rva, rva, want, dir_size)
    if raw is None or len(raw) < 12:
        problems.append(Problem("pe-load-config", "load config shorter than its fixed header"))
        return None
    if truncated:
        problems.append(Problem("pe-load-config-truncated",
                                f"load config Size {declared:#x}, only {len(raw):#x} bytes readable"))
    patched = len(raw).to_bytes(4, "little") + raw[4:]
    container = load_config_layout(is64).parse(patched)
    full = LOAD_CONFIG_FULL_SIZE64 if is64 else LOAD_CONFIG_FULL_SIZE32
    if declared > full:
        problems.append(Problem("pe-load-config-newer",
                                f"load config Size {declared:#x} is newer than the known layout"))
    handlers = _safeseh(container, is64, pe, base, read_rva, problems)
    return decode_load_config(container, handlers, truncated, 8 if is64 else 4, declared)


def _read_prefix(read_rva: ReadRva, rva: int, want: int, dir_size: int):
    """``want`` bytes at ``rva``, or the longest readable prefix (halving down to dir_size)."""
    try:
        return read_rva(rva, want), False
    except DumpkitError:
        pass
    for n in sorted({min(dir_size, want), 0x5C, 0x48, 0x40}, reverse=True):
        if n >= want:
            continue
        try:
            return read_rva(rva, n), True
        except DumpkitError:
            continue
    return None, True


def _safeseh(container: Any, is64: bool, pe: pefile.PE, base: int, read_rva: ReadRva,
             problems: List[Problem]) -> List[int]:
    table, count = container.get("SEHandlerTable"), container.get("SEHandlerCount")
    if is64 or not table or not count:
        return []
    table_rva = table - base
    limit = pe.OPTIONAL_HEADER.SizeOfImage
    if table_rva < 0 or count > limit // 4 or table_rva + 4 * count > limit:
        problems.append(Problem("pe-safeseh", f"SEHandlerTable {table:#x} x {count} lies outside "
                                              "the image"))
        return []
    try:
        # Read at the exact RVA: lld does not align the table to 4.
        return list(SEHANDLER_TABLE(count).parse(read_rva(table_rva, 4 * count)))
    except DumpkitError as exc:
        problems.append(Problem("pe-safeseh", f"SafeSEH table unreadable: {exc}"))
        return []


def _file_layout(pe: pefile.PE, header: bytes, read_rva: ReadRva) -> bytes:
    """Rebuild file-layout bytes from a mapped image so pefile can read its directories."""
    end = len(header)
    for s in pe.sections:
        end = max(end, s.PointerToRawData + s.SizeOfRawData)
    if end > 256 << 20:
        raise CorruptInput("mapped image too large to rebuild for export reading")
    out = bytearray(end)
    out[:len(header)] = header
    for s in pe.sections:
        size = min(s.SizeOfRawData, max(s.Misc_VirtualSize, 0) or s.SizeOfRawData)
        if not size:
            continue
        try:
            out[s.PointerToRawData:s.PointerToRawData + size] = read_rva(s.VirtualAddress, size)
        except DumpkitError:
            continue   # the export reader reports what it cannot find
    return bytes(out)


__all__ = ["PeImage", "Section", "Export", "image_in_target", "IMAGE_DLLCHARACTERISTICS"]
