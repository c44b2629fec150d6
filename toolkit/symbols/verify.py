"""Which ids a file on disk carries: the check that stands between a store and a wrong symbol.

A symbol file is only used when it carries the id the module asked for: a PDB's GUID+age (from
its PDB info stream), a Breakpad ``.sym``'s MODULE line id, a PE's CodeView record (debug id)
and TimeDateStamp+SizeOfImage (code id). PDB and PE are opened with ``symbolic`` (Sentry's
reader, which also symbolizes later); ``.sym`` is identified from its first line only, so a
large text file is not parsed twice; the code id of a PE comes from ``pefile``'s headers-only
load, which also works where ``symbolic`` has no wheel (Windows).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Optional, Set

from toolkit.model.debug_id import DebugId, code_id
from toolkit.symbols.safe_names import normalize_code_id

PDB_MAGIC = b"Microsoft C/C++ MSF 7.00\r\n\x1aDS\x00\x00\x00"
PDB2_MAGIC = b"Microsoft C/C++ program database 2.00\r\n\x1aJG\x00\x00"
CAB_MAGIC = b"MSCF"


def sniff(path: Path) -> str:
    """``pdb``, ``pe``, ``sym``, ``cab``, ``elf``, ``macho`` or ``unknown``, from the first bytes."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError:
        return "unknown"
    if head.startswith(PDB_MAGIC) or head.startswith(PDB2_MAGIC):
        return "pdb"
    if head.startswith(b"MZ"):
        return "pe"
    if head.startswith(b"MODULE "):
        return "sym"
    if head.startswith(CAB_MAGIC):
        return "cab"
    if head.startswith(b"\x7fELF"):
        return "elf"
    if head[:4] in (b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe"):
        return "macho"
    return "unknown"


def _parse_symbolic_id(text: str) -> Set[DebugId]:
    """symbolic spells NB10 ids as a GUID with zero tail; keep both readings so either matches."""
    found: Set[DebugId] = set()
    try:
        did = DebugId.parse(text)
    except ValueError:
        return found
    found.add(did)
    if isinstance(did.guid, uuid.UUID) and did.guid.bytes[4:] == b"\x00" * 12:
        found.add(DebugId(int.from_bytes(did.guid.bytes[:4], "big"), did.age))
    return found


def sym_module_id(path: Path) -> Optional[DebugId]:
    """The id on a Breakpad ``MODULE <os> <arch> <id> <name>`` first line, or ``None``."""
    try:
        with open(path, "rb") as fh:
            line = fh.readline(4096)
    except OSError:
        return None
    parts = line.decode("utf-8", "replace").split(None, 4)
    if len(parts) < 4 or parts[0] != "MODULE":
        return None
    try:
        return DebugId.parse(parts[3])
    except ValueError:
        return None


def sym_code_id(path: Path) -> Optional[str]:
    """``CODE_ID`` from the MODULE line (mozilla dump_syms) or an ``INFO CODE_ID`` line."""
    try:
        with open(path, "rb") as fh:
            lines = [fh.readline(4096).decode("utf-8", "replace") for _ in range(3)]
    except OSError:
        return None
    for line in lines:
        words = line.split()
        if "CODE_ID" in words:
            i = words.index("CODE_ID")
            if i + 1 < len(words):
                return normalize_code_id(words[i + 1])
    return None


def _symbolic_ids(path: Path) -> Set[DebugId]:
    try:
        from symbolic.debuginfo import Archive
    except ImportError:  # no wheel on Windows: see ARCHITECTURE.md "Platforms"
        return set()
    found: Set[DebugId] = set()
    try:
        archive = Archive.open(str(path))
        for obj in archive.iter_objects():
            if obj.debug_id:
                found |= _parse_symbolic_id(str(obj.debug_id))
    except Exception:  # symbolic raises its own hierarchy (ObjectError...) on any bad input
        return set()
    return found


def debug_ids_of(path: Path) -> Set[DebugId]:
    """Every debug id ``path`` carries (empty when it is unreadable or of another kind).

    PDB: GUID+age of the info stream; PE: the CodeView record's GUID+age; ``.sym``: the MODULE
    line. ELF and Mach-O have build ids, not PDB ids, and yield nothing here.
    """
    kind = sniff(path)
    if kind == "sym":
        did = sym_module_id(path)
        return {did} if did else set()
    if kind in ("pdb", "pe"):
        return _symbolic_ids(path)
    return set()


def code_id_of(path: Path) -> Optional[str]:
    """``<TimeDateStamp %08X><SizeOfImage %x>`` of a PE (or a ``.sym``'s CODE_ID), else ``None``."""
    kind = sniff(path)
    if kind == "sym":
        return sym_code_id(path)
    if kind != "pe":
        return None
    import pefile

    try:
        pe = pefile.PE(str(path), fast_load=True)
    except (pefile.PEFormatError, OSError, Exception):  # pefile raises broadly on bad input
        return None
    try:
        return code_id(pe.FILE_HEADER.TimeDateStamp, pe.OPTIONAL_HEADER.SizeOfImage)
    except AttributeError:
        return None
    finally:
        pe.close()


__all__ = [
    "code_id_of",
    "debug_ids_of",
    "sniff",
    "sym_code_id",
    "sym_module_id",
]
