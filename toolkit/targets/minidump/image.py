"""Debug ids of modules whose minidump entry has no CodeView record, read from the mapped image.

Wine's dbghelp writes modules without CvRecord; when the dump captured the image's pages, the
PE headers and the IMAGE_DEBUG_DIRECTORY in memory still name the PDB. The PE reader
(``toolkit.targets.pe.image.PeImage.from_target``) does this fully; when it gives up on an image, this module
walks only what it needs: DOS header -> NT headers -> debug data directory -> CODEVIEW entry.
"""

from __future__ import annotations

from typing import Optional, Tuple

from parsers.codeview import parse_codeview
from parsers.pe_debug import IMAGE_DEBUG_DIRECTORY, IMAGE_DEBUG_DIRECTORY_SIZE
from toolkit.model.debug_id import DebugId
from toolkit.model.errors import DumpkitError
from toolkit.model.target import Module

IMAGE_DIRECTORY_ENTRY_DEBUG = 6
MAX_DEBUG_ENTRIES = 32
MAX_CODEVIEW_SIZE = 0x1000


def debug_id_from_image(target, module: Module) -> Optional[Tuple[DebugId, Optional[str]]]:
    """(debug id, pdb name) from the image in the dump's memory, or None when not captured."""
    from toolkit.targets.pe.image import PeImage  # local: pefile is slow to import and most dumps never need it

    try:
        image = PeImage.from_target(target, module)
        if image.debug_id is not None:
            return image.debug_id, image.pdb_name
    except (DumpkitError, ValueError, AttributeError):
        pass
    try:
        return _read_codeview(target, module.base)
    except (DumpkitError, ValueError):
        return None


def _read_codeview(target, base: int) -> Optional[Tuple[DebugId, Optional[str]]]:
    read = target.read
    if read(base, 2) != b"MZ":
        return None
    nt = base + int.from_bytes(read(base + 0x3C, 4), "little")
    if read(nt, 4) != b"PE\0\0":
        return None
    optional = nt + 24
    magic = int.from_bytes(read(optional, 2), "little")
    directories = optional + {0x10B: 96, 0x20B: 112}.get(magic, -1)
    if directories < optional:
        return None
    entry = read(directories + IMAGE_DIRECTORY_ENTRY_DEBUG * 8, 8)
    rva, size = int.from_bytes(entry[:4], "little"), int.from_bytes(entry[4:], "little")
    count = min(size // IMAGE_DEBUG_DIRECTORY_SIZE, MAX_DEBUG_ENTRIES)
    for i in range(count):
        d = IMAGE_DEBUG_DIRECTORY.parse(read(base + rva + i * IMAGE_DEBUG_DIRECTORY_SIZE,
                                             IMAGE_DEBUG_DIRECTORY_SIZE))
        if d.Type != "IMAGE_DEBUG_TYPE_CODEVIEW" or not d.AddressOfRawData:
            continue
        raw = read(base + d.AddressOfRawData, min(d.SizeOfData, MAX_CODEVIEW_SIZE))
        cv = parse_codeview(raw)
        if cv.debug_id is not None:
            return cv.debug_id, cv.pdb_name
    return None


__all__ = ["debug_id_from_image"]
