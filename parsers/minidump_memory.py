"""Minidump memory tables: MINIDUMP_MEMORY_LIST, MINIDUMP_MEMORY64_LIST, MINIDUMP_MEMORY_INFO_LIST.

Layouts from minidumpapiset.h. The list HEADERS are construct Structs (they parse and build like
every other structure here); the tables that follow them are numpy structured arrays. A full
dump holds 10^5..10^6 descriptors, and construct costs ~38 µs per 48-byte item where
``np.frombuffer`` costs ~1 ns, so the bulk tables are deliberately not parsed item by item.

Untrusted input: every count is checked against the stream size and the file size BEFORE an
array is made, so a forged count can neither overrun the file nor allocate unbounded memory.
Descriptors whose bytes lie outside the file are not rejected here: that is a truncated dump,
which stays readable up to its end (toolkit.model.memory.MemoryMap clips such ranges and says so).
"""

from __future__ import annotations

from typing import Tuple

import numpy as np
from parsers.sizes import fixed_size
from construct import Int32ul, Int64ul, Struct

from toolkit.model.errors import CorruptStream

MemoryListStream = 5
Memory64ListStream = 9
MemoryInfoListStream = 16

MINIDUMP_MEMORY_DESCRIPTOR_DTYPE = np.dtype([
    ("StartOfMemoryRange", "<u8"),       # +0x00
    ("DataSize", "<u4"),                 # +0x08 MINIDUMP_LOCATION_DESCRIPTOR.DataSize
    ("Rva", "<u4"),                      # +0x0C MINIDUMP_LOCATION_DESCRIPTOR.Rva
])

MINIDUMP_MEMORY_DESCRIPTOR64_DTYPE = np.dtype([
    ("StartOfMemoryRange", "<u8"),       # +0x00
    ("DataSize", "<u8"),                 # +0x08
])

MINIDUMP_MEMORY_INFO_DTYPE = np.dtype([
    ("BaseAddress", "<u8"),              # +0x00
    ("AllocationBase", "<u8"),           # +0x08
    ("AllocationProtect", "<u4"),        # +0x10 PAGE_* flags
    ("__alignment1", "<u4"),             # +0x14
    ("RegionSize", "<u8"),               # +0x18
    ("State", "<u4"),                    # +0x20 MEM_COMMIT | MEM_RESERVE | MEM_FREE
    ("Protect", "<u4"),                  # +0x24 PAGE_* flags
    ("Type", "<u4"),                     # +0x28 MEM_PRIVATE | MEM_MAPPED | MEM_IMAGE
    ("__alignment2", "<u4"),             # +0x2C
])

assert MINIDUMP_MEMORY_DESCRIPTOR_DTYPE.itemsize == 16
assert MINIDUMP_MEMORY_DESCRIPTOR64_DTYPE.itemsize == 16
assert MINIDUMP_MEMORY_INFO_DTYPE.itemsize == 48

MINIDUMP_MEMORY_LIST = Struct(
    "NumberOfMemoryRanges" / Int32ul,    # +0x00, MINIDUMP_MEMORY_DESCRIPTOR[] follows
)

MINIDUMP_MEMORY64_LIST = Struct(
    "NumberOfMemoryRanges" / Int64ul,    # +0x00
    "BaseRva" / Int64ul,                 # +0x08 file offset of the first range's bytes
)

MINIDUMP_MEMORY_INFO_LIST = Struct(
    "SizeOfHeader" / Int32ul,            # +0x00 16 today; entries start here
    "SizeOfEntry" / Int32ul,             # +0x04 48 today; larger entries keep this prefix
    "NumberOfEntries" / Int64ul,         # +0x08
)


MAX_FILE_OFFSET = 1 << 63     # no file is larger (off_t is signed): a BaseRva above is no offset


def _stream_bytes(buf, stream_type: int, offset: int, size: int, minimum: int) -> memoryview:
    """The stream's bytes, after checking that the directory entry fits the file."""
    view = memoryview(buf).cast("B")
    if offset < 0 or size < 0 or offset + size > len(view):
        raise CorruptStream(stream_type, f"stream of {size:#x} bytes runs past the end of the "
                            f"file ({len(view):#x} bytes)", offset=offset)
    if size < minimum:
        raise CorruptStream(stream_type, f"stream of {size:#x} bytes is shorter than its "
                            f"{minimum:#x}-byte header", offset=offset)
    return view[offset:offset + size]


def _table(stream: memoryview, start: int, count: int, dtype: np.dtype) -> np.ndarray:
    """A compact, writable copy of ``count`` entries (the copy detaches it from the file)."""
    return np.frombuffer(stream, dtype=dtype, count=count, offset=start).copy()


def parse_memory_list(buf, offset: int, size: int) -> np.ndarray:
    """MINIDUMP_MEMORY_LIST at ``offset`` -> MINIDUMP_MEMORY_DESCRIPTOR_DTYPE array.

    Some writers put 4 bytes of padding after the 32-bit count so the 8-byte-aligned
    descriptors stay aligned; Breakpad and rust-minidump accept exactly that case, and so do we.
    """
    stream = _stream_bytes(buf, MemoryListStream, offset, size, fixed_size(MINIDUMP_MEMORY_LIST))
    count = MINIDUMP_MEMORY_LIST.parse(stream[:4]).NumberOfMemoryRanges
    item = MINIDUMP_MEMORY_DESCRIPTOR_DTYPE.itemsize
    if 4 + count * item > size:
        raise CorruptStream(MemoryListStream, f"{count} memory ranges need {4 + count * item:#x}"
                            f" bytes but the stream has {size:#x}", offset=offset)
    start = 8 if 4 + count * item + 4 == size else 4
    return _table(stream, start, count, MINIDUMP_MEMORY_DESCRIPTOR_DTYPE)


def parse_memory64_list(buf, offset: int, size: int) -> Tuple[int, np.ndarray]:
    """MINIDUMP_MEMORY64_LIST at ``offset`` -> (BaseRva, MINIDUMP_MEMORY_DESCRIPTOR64_DTYPE array).

    The ranges' bytes lie back to back from BaseRva on, in descriptor order. A BaseRva or
    sizes that run past the end of the file mean a truncated dump, not a corrupt list: the
    memory map keeps what the file holds and records a problem for the rest. A BaseRva no file
    can reach (2**63 or more), or one that makes the ranges' file offsets pass 2**64, is
    corrupt: 64-bit offsets would wrap to the start of the file and read the header as memory.
    """
    stream = _stream_bytes(buf, Memory64ListStream, offset, size, fixed_size(MINIDUMP_MEMORY64_LIST))
    header = MINIDUMP_MEMORY64_LIST.parse(stream[:16])
    count, base_rva = header.NumberOfMemoryRanges, header.BaseRva
    item = MINIDUMP_MEMORY_DESCRIPTOR64_DTYPE.itemsize
    if 16 + count * item > size:
        raise CorruptStream(Memory64ListStream, f"{count} memory ranges need "
                            f"{16 + count * item:#x} bytes but the stream has {size:#x}",
                            offset=offset)
    table = _table(stream, 16, count, MINIDUMP_MEMORY_DESCRIPTOR64_DTYPE)
    # Sizes past the file are clipped to len+1 (they only push later ranges past the file too),
    # so the sum stays exact in uint64 and the test below is about BaseRva, not truncation.
    file_len = len(memoryview(buf).cast("B"))
    clipped = np.minimum(table["DataSize"].astype(np.uint64), np.uint64(file_len + 1))
    if base_rva >= MAX_FILE_OFFSET or base_rva + int(clipped.sum(dtype=np.uint64)) >= 1 << 64:
        raise CorruptStream(Memory64ListStream, f"BaseRva {base_rva:#x} puts the ranges' bytes "
                            "past the 64-bit file offset space", offset=offset)
    return base_rva, table


def parse_memory_info_list(buf, offset: int, size: int) -> np.ndarray:
    """MINIDUMP_MEMORY_INFO_LIST at ``offset`` -> MINIDUMP_MEMORY_INFO_DTYPE array.

    SizeOfHeader and SizeOfEntry are honoured as written (a later format may grow either), but
    an entry shorter than the 48 bytes we read is corrupt.
    """
    stream = _stream_bytes(buf, MemoryInfoListStream, offset, size,
                           fixed_size(MINIDUMP_MEMORY_INFO_LIST))
    header = MINIDUMP_MEMORY_INFO_LIST.parse(stream[:16])
    head, entry, count = header.SizeOfHeader, header.SizeOfEntry, header.NumberOfEntries
    if head < fixed_size(MINIDUMP_MEMORY_INFO_LIST) or entry < MINIDUMP_MEMORY_INFO_DTYPE.itemsize:
        raise CorruptStream(MemoryInfoListStream, f"SizeOfHeader {head:#x} / SizeOfEntry "
                            f"{entry:#x} are smaller than the 0x10 / 0x30 bytes of the format",
                            offset=offset)
    if head + count * entry > size:
        raise CorruptStream(MemoryInfoListStream, f"{count} entries of {entry:#x} bytes need "
                            f"{head + count * entry:#x} bytes but the stream has {size:#x}",
                            offset=offset)
    if entry == MINIDUMP_MEMORY_INFO_DTYPE.itemsize:
        return _table(stream, head, count, MINIDUMP_MEMORY_INFO_DTYPE)
    strided = np.dtype({"names": list(MINIDUMP_MEMORY_INFO_DTYPE.names),
                        "formats": [MINIDUMP_MEMORY_INFO_DTYPE.fields[n][0]
                                    for n in MINIDUMP_MEMORY_INFO_DTYPE.names],
                        "offsets": [MINIDUMP_MEMORY_INFO_DTYPE.fields[n][1]
                                    for n in MINIDUMP_MEMORY_INFO_DTYPE.names],
                        "itemsize": entry})
    rows = np.frombuffer(stream, dtype=strided, count=count, offset=head)
    return rows.astype(MINIDUMP_MEMORY_INFO_DTYPE)


def build_memory_list(descriptors: np.ndarray) -> bytes:
    """MINIDUMP_MEMORY_LIST bytes (count, then the descriptors) for tests and dump writers."""
    table = np.asarray(descriptors).astype(MINIDUMP_MEMORY_DESCRIPTOR_DTYPE, copy=False)
    return (MINIDUMP_MEMORY_LIST.build({"NumberOfMemoryRanges": len(table)})
            + table.tobytes())


def build_memory64_list(base_rva: int, descriptors64: np.ndarray) -> bytes:
    """MINIDUMP_MEMORY64_LIST bytes; the caller places the ranges' bytes at ``base_rva``."""
    table = np.asarray(descriptors64).astype(MINIDUMP_MEMORY_DESCRIPTOR64_DTYPE, copy=False)
    return (MINIDUMP_MEMORY64_LIST.build({"NumberOfMemoryRanges": len(table),
                                          "BaseRva": base_rva})
            + table.tobytes())


def build_memory_info_list(infos: np.ndarray) -> bytes:
    """MINIDUMP_MEMORY_INFO_LIST bytes with today's 16-byte header and 48-byte entries."""
    table = np.asarray(infos).astype(MINIDUMP_MEMORY_INFO_DTYPE, copy=False)
    return (MINIDUMP_MEMORY_INFO_LIST.build({"SizeOfHeader": fixed_size(MINIDUMP_MEMORY_INFO_LIST),
                                             "SizeOfEntry": MINIDUMP_MEMORY_INFO_DTYPE.itemsize,
                                             "NumberOfEntries": len(table)})
            + table.tobytes())


__all__ = [
    "MemoryListStream", "Memory64ListStream", "MemoryInfoListStream",
    "MINIDUMP_MEMORY_DESCRIPTOR_DTYPE", "MINIDUMP_MEMORY_DESCRIPTOR64_DTYPE",
    "MINIDUMP_MEMORY_INFO_DTYPE",
    "MINIDUMP_MEMORY_LIST", "MINIDUMP_MEMORY64_LIST", "MINIDUMP_MEMORY_INFO_LIST",
    "parse_memory_list", "parse_memory64_list", "parse_memory_info_list",
    "build_memory_list", "build_memory64_list", "build_memory_info_list",
]
