"""The "stored debug blob": a module's debug directory as dbghelp's MODLOAD_DATA carries it.

dbghelp.h: ``SymLoadModuleEx(..., PMODLOAD_DATA Data, ...)`` with ``Data->ssig =
DBHHEADER_DEBUGDIRS`` hands the resolver a module's IMAGE_DEBUG_DIRECTORY entries when the
image itself is not at hand (a tracer recorded them at load time). The blob is the entries
written contiguously, then their payloads; in each entry ``AddressOfRawData`` is 0 and
``PointerToRawData`` is the payload's offset counted from the start of *that entry* (not from
the start of the blob), so entry i of N whose payload sits at blob offset X stores X - 28*i.

A blob does not state its entry count. ``entry_count`` recovers it: the entries end where
the first payload begins. Entries with SizeOfData 0 (ILTCB, empty REPRO) are written pointing
at the end of the payload area, so they never shorten the count.

A linker writes a handful of entries (CodeView, POGO, REPRO, VC_FEATURE, ILTCB, ...); more than
``MAX_BLOB_ENTRIES`` is no blob (a file of zeros would otherwise read as one entry per 28 bytes),
and the count is found in at most that many steps, whatever the input's size.
"""

from __future__ import annotations

import struct
from typing import List, Optional, Sequence, Tuple

from construct import Array, Container, Enum, GreedyBytes, Int32ul, Int64ul, Struct

from parsers.pe_debug import IMAGE_DEBUG_DIRECTORY, IMAGE_DEBUG_DIRECTORY_SIZE, IMAGE_DEBUG_TYPE
from toolkit.model.errors import CorruptInput

MAX_BLOB_ENTRIES = 64
_ENTRY_SIZE_AND_POINTER = struct.Struct("<16xI4xI")    # SizeOfData +0x10, PointerToRawData +0x18

DBHHEADER = dict(DBHHEADER_DEBUGDIRS=1, DBHHEADER_CVMISC=2, DBHHEADER_PDBGUID=3)

# dbghelp.h MODLOAD_DATA; ``data`` is a PVOID, so the layout follows the caller's bitness.
MODLOAD_DATA32 = Struct(
    "ssize" / Int32ul,                                   # +0x00 sizeof(MODLOAD_DATA) = 0x14
    "ssig" / Enum(Int32ul, **DBHHEADER),                 # +0x04
    "data" / Int32ul,                                    # +0x08 pointer to the blob
    "size" / Int32ul,                                    # +0x0C blob size
    "flags" / Int32ul,                                   # +0x10
)
MODLOAD_DATA64 = Struct(
    "ssize" / Int32ul,                                   # +0x00 sizeof(MODLOAD_DATA) = 0x18
    "ssig" / Enum(Int32ul, **DBHHEADER),                 # +0x04
    "data" / Int64ul,                                    # +0x08 pointer to the blob
    "size" / Int32ul,                                    # +0x10 blob size
    "flags" / Int32ul,                                   # +0x14
)


def MODLOAD_DEBUGDIRS(count: int):
    """The blob as construct sees it: ``count`` entries, then the payload area."""
    return Struct(
        "Entries" / Array(count, IMAGE_DEBUG_DIRECTORY),
        "Payloads" / GreedyBytes,
    )


def build_debug_blob(records: Sequence[Tuple[dict, bytes]]) -> bytes:
    """Entries (IMAGE_DEBUG_DIRECTORY containers or dicts) with their payloads -> blob bytes.

    Entry fields are kept except AddressOfRawData (0), PointerToRawData (relative, see the
    module docstring) and SizeOfData (the payload's length).
    """
    head = IMAGE_DEBUG_DIRECTORY_SIZE * len(records)
    out_entries, payloads, at = [], [], head
    for i, (entry, payload) in enumerate(records):
        payload = bytes(payload)
        fields = {k: v for k, v in dict(entry).items() if not str(k).startswith("_")}
        fields.update(AddressOfRawData=0, SizeOfData=len(payload),
                      PointerToRawData=at - IMAGE_DEBUG_DIRECTORY_SIZE * i)
        out_entries.append(fields)
        payloads.append(payload)
        at += len(payload)
    # Zero-size payloads point at the end of the payload area (see entry_count).
    for i, fields in enumerate(out_entries):
        if fields["SizeOfData"] == 0:
            fields["PointerToRawData"] = at - IMAGE_DEBUG_DIRECTORY_SIZE * i
    return MODLOAD_DEBUGDIRS(len(records)).build(
        dict(Entries=out_entries, Payloads=b"".join(payloads)))


def entry_count(blob: bytes) -> int:
    """How many entries lead the blob: read entries until the earliest payload start (at most
    ``MAX_BLOB_ENTRIES + 1`` are read; a larger answer means "not a blob")."""
    limit = len(blob)
    n = 0
    while (n + 1) * IMAGE_DEBUG_DIRECTORY_SIZE <= limit and n <= MAX_BLOB_ENTRIES:
        at = n * IMAGE_DEBUG_DIRECTORY_SIZE
        size, pointer = _ENTRY_SIZE_AND_POINTER.unpack_from(blob, at)
        if size:
            limit = min(limit, at + pointer)
        n += 1
    return n


def parse_debug_blob(blob: bytes, count: Optional[int] = None) -> List[Tuple[Container, bytes]]:
    """Blob -> [(IMAGE_DEBUG_DIRECTORY container, payload bytes)]; CorruptInput when a
    payload lies outside the blob."""
    blob = bytes(blob)
    if count is None:
        count = entry_count(blob)
    if count > MAX_BLOB_ENTRIES:
        raise CorruptInput(f"debug blob claims more than {MAX_BLOB_ENTRIES} entries")
    if count * IMAGE_DEBUG_DIRECTORY_SIZE > len(blob):
        raise CorruptInput(f"debug blob of {len(blob)} bytes cannot hold {count} entries")
    parsed = MODLOAD_DEBUGDIRS(count).parse(blob)
    out = []
    for i, entry in enumerate(parsed.Entries):
        start = i * IMAGE_DEBUG_DIRECTORY_SIZE + entry.PointerToRawData
        end = start + entry.SizeOfData
        if entry.SizeOfData and end > len(blob):
            raise CorruptInput(f"debug blob entry {i} payload {start:#x}+{entry.SizeOfData:#x} "
                               f"ends past the blob ({len(blob):#x} bytes)")
        out.append((entry, blob[start:end] if entry.SizeOfData else b""))
    return out


def looks_like_debug_blob(data: bytes) -> bool:
    """A cheap content test: at most ``MAX_BLOB_ENTRIES`` entries, each of a known type other
    than UNKNOWN, unmapped (AddressOfRawData 0), its payload after the entries and inside the
    blob. Zeros, text or random bytes fail on the first entry."""
    if len(data) < IMAGE_DEBUG_DIRECTORY_SIZE or data[:2] == b"MZ":
        return False
    try:
        n = entry_count(data)
        entries = parse_debug_blob(data, n)
    except Exception:  # noqa: BLE001 - any decode failure means "not a blob"
        return False
    known = set(IMAGE_DEBUG_TYPE.values()) - {IMAGE_DEBUG_TYPE["IMAGE_DEBUG_TYPE_UNKNOWN"]}
    head = n * IMAGE_DEBUG_DIRECTORY_SIZE
    for i, (entry, _payload) in enumerate(entries):
        if entry.AddressOfRawData != 0 or getattr(entry.Type, "intvalue", entry.Type) not in known:
            return False
        start = i * IMAGE_DEBUG_DIRECTORY_SIZE + entry.PointerToRawData
        if entry.SizeOfData and not head <= start <= len(data) - entry.SizeOfData:
            return False
    return n > 0


__all__ = [
    "DBHHEADER", "MODLOAD_DATA32", "MODLOAD_DATA64", "MODLOAD_DEBUGDIRS", "build_debug_blob",
    "entry_count", "parse_debug_blob", "looks_like_debug_blob", "MAX_BLOB_ENTRIES",
]
