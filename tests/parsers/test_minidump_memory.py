"""Minidump memory tables: numpy layouts and list headers, on real corpus dumps.

Expected values come from an independent reading of the same bytes with ``struct`` (never from
the definitions under test); malformed lists are built with the module's own builders.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import pytest
from full_dumps import full_dump as full_dump_path

from parsers.minidump_memory import (
    MINIDUMP_MEMORY64_LIST,
    MINIDUMP_MEMORY_DESCRIPTOR64_DTYPE,
    MINIDUMP_MEMORY_DESCRIPTOR_DTYPE,
    MINIDUMP_MEMORY_INFO_DTYPE,
    MINIDUMP_MEMORY_INFO_LIST,
    MINIDUMP_MEMORY_LIST,
    Memory64ListStream,
    MemoryInfoListStream,
    MemoryListStream,
    build_memory64_list,
    build_memory_info_list,
    build_memory_list,
    parse_memory64_list,
    parse_memory_info_list,
    parse_memory_list,
)
from tests.conftest import corpus_path
from toolkit.model.errors import CorruptStream


def streams(buf: bytes) -> Dict[int, Tuple[int, int]]:
    """A minimal MINIDUMP_HEADER / MINIDUMP_DIRECTORY walk: stream type -> (size, rva)."""
    count, dir_rva = struct.unpack_from("<II", buf, 8)
    found = {}
    for i in range(count):
        stream_type, size, rva = struct.unpack_from("<III", buf, dir_rva + 12 * i)
        found.setdefault(stream_type, (size, rva))
    return found


@pytest.fixture(scope="module")
def full_dump() -> bytes:
    """Wine's x86_64 full-memory dump (Memory64List, 79 ranges), decompressed in memory."""
    return full_dump_path("wine/dumps/crash-x86_64-nocrt-ext-full.dmp.xz").read_bytes()


def read(rel: str) -> bytes:
    return Path(corpus_path(rel)).read_bytes()


# ---- MINIDUMP_MEMORY_LIST -------------------------------------------------------------------

@pytest.mark.parametrize("rel", ["breakpad/processor/minidump2.dmp", "symbolic/windows/mini.dmp",
                                 "wine/dumps/crash-x86_64-mingw-ext-normal.dmp"])
def test_memory_list_rows_match_the_descriptors_in_the_file(rel):
    buf = read(rel)
    size, rva = streams(buf)[MemoryListStream]
    (count,) = struct.unpack_from("<I", buf, rva)
    expected = [struct.unpack_from("<QII", buf, rva + 4 + 16 * i) for i in range(count)]
    table = parse_memory_list(buf, rva, size)
    assert table.dtype == MINIDUMP_MEMORY_DESCRIPTOR_DTYPE
    assert [tuple(int(v) for v in row) for row in table.tolist()] == expected


@pytest.mark.parametrize("rel", ["breakpad/processor/minidump2.dmp",
                                 "breakpad/processor/tiny-exe-with-cet-xsave.dmp"])
def test_memory_list_builds_back_to_the_stream_bytes(rel):
    buf = read(rel)
    size, rva = streams(buf)[MemoryListStream]
    assert build_memory_list(parse_memory_list(buf, rva, size)) == buf[rva:rva + size]


def test_memory_list_header_struct_round_trips_real_bytes():
    buf = read("breakpad/processor/minidump2.dmp")
    _, rva = streams(buf)[MemoryListStream]
    header = MINIDUMP_MEMORY_LIST.parse(buf[rva:rva + 4])
    assert header.NumberOfMemoryRanges == struct.unpack_from("<I", buf, rva)[0]
    assert MINIDUMP_MEMORY_LIST.build(header) == buf[rva:rva + 4]
    assert MINIDUMP_MEMORY_LIST.sizeof() == 4


def test_memory_list_skips_four_bytes_of_padding_after_the_count():
    buf = read("breakpad/processor/minidump2.dmp")
    size, rva = streams(buf)[MemoryListStream]
    table = parse_memory_list(buf, rva, size)
    raw = build_memory_list(table)
    padded = raw[:4] + b"\0" * 4 + raw[4:]
    assert parse_memory_list(padded, 0, len(padded)).tolist() == table.tolist()


def test_memory_list_count_past_the_stream_is_corrupt():
    raw = struct.pack("<I", 0xFFFFFFFF) + b"\0" * 32
    with pytest.raises(CorruptStream) as err:
        parse_memory_list(raw, 0, len(raw))
    assert err.value.stream_type == MemoryListStream and err.value.offset == 0


def test_memory_list_stream_past_the_file_is_corrupt():
    raw = build_memory_list(np.zeros(2, MINIDUMP_MEMORY_DESCRIPTOR_DTYPE))
    with pytest.raises(CorruptStream, match="past the end of the file"):
        parse_memory_list(raw, 8, len(raw))


def test_memory_list_shorter_than_its_count_field_is_corrupt():
    with pytest.raises(CorruptStream, match="shorter"):
        parse_memory_list(b"\x01\x00", 0, 2)


# ---- MINIDUMP_MEMORY64_LIST -----------------------------------------------------------------

def test_memory64_list_matches_the_descriptors_in_a_full_dump(full_dump):
    size, rva = streams(full_dump)[Memory64ListStream]
    count, base = struct.unpack_from("<QQ", full_dump, rva)
    base_rva, table = parse_memory64_list(full_dump, rva, size)
    assert base_rva == base
    assert table.dtype == MINIDUMP_MEMORY_DESCRIPTOR64_DTYPE
    assert table.tolist() == [struct.unpack_from("<QQ", full_dump, rva + 16 + 16 * i)
                              for i in range(count)]
    # the ranges' bytes fill the file from BaseRva to its end
    assert base_rva + int(table["DataSize"].sum()) == len(full_dump)


def test_memory64_list_builds_back_to_the_stream_bytes(full_dump):
    size, rva = streams(full_dump)[Memory64ListStream]
    base_rva, table = parse_memory64_list(full_dump, rva, size)
    assert build_memory64_list(base_rva, table) == full_dump[rva:rva + size]
    header = MINIDUMP_MEMORY64_LIST.parse(full_dump[rva:rva + 16])
    assert (header.NumberOfMemoryRanges, header.BaseRva) == (len(table), base_rva)
    assert MINIDUMP_MEMORY64_LIST.build(header) == full_dump[rva:rva + 16]


def test_memory64_list_huge_count_is_corrupt_without_allocating():
    raw = struct.pack("<QQ", (1 << 64) - 1, 0x100) + b"\0" * 16
    with pytest.raises(CorruptStream, match="memory ranges need") as err:
        parse_memory64_list(raw, 0, len(raw))
    assert err.value.stream_type == Memory64ListStream


def test_memory64_list_stream_size_past_the_file_is_corrupt():
    raw = build_memory64_list(0x40, np.zeros(1, MINIDUMP_MEMORY_DESCRIPTOR64_DTYPE))
    with pytest.raises(CorruptStream):
        parse_memory64_list(raw, 0, len(raw) + 1)


# ---- MINIDUMP_MEMORY_INFO_LIST --------------------------------------------------------------

def _info_rows(buf: bytes, rva: int) -> List[tuple]:
    head, entry, count = struct.unpack_from("<IIQ", buf, rva)
    return [struct.unpack_from("<QQIIQIIII", buf, rva + head + entry * i) for i in range(count)]


def test_memory_info_list_rows_match_the_file():
    buf = read("breakpad/processor/tiny-exe-with-cet-xsave.dmp")
    size, rva = streams(buf)[MemoryInfoListStream]
    table = parse_memory_info_list(buf, rva, size)
    assert table.dtype == MINIDUMP_MEMORY_INFO_DTYPE and len(table) == 557
    assert table.tolist() == _info_rows(buf, rva)


def test_memory_info_list_builds_back_to_the_stream_bytes():
    buf = read("breakpad/processor/tiny-exe-with-cet-xsave.dmp")
    size, rva = streams(buf)[MemoryInfoListStream]
    assert build_memory_info_list(parse_memory_info_list(buf, rva, size)) == buf[rva:rva + size]
    header = MINIDUMP_MEMORY_INFO_LIST.parse(buf[rva:rva + 16])
    assert MINIDUMP_MEMORY_INFO_LIST.build(header) == buf[rva:rva + 16]


def test_memory_info_list_reads_the_known_prefix_of_longer_entries():
    buf = read("breakpad/processor/tiny-exe-with-cet-xsave.dmp")
    size, rva = streams(buf)[MemoryInfoListStream]
    table = parse_memory_info_list(buf, rva, size)[:5]
    wide = struct.pack("<IIQ", 24, 56, len(table)) + b"\xEE" * 8 + b"".join(
        row.tobytes() + b"\xFF" * 8 for row in table)
    assert parse_memory_info_list(wide, 0, len(wide)).tolist() == table.tolist()


@pytest.mark.parametrize("header, message", [
    ((16, 40, 1), "smaller than"),                    # entry shorter than the format's 48 bytes
    ((8, 48, 1), "smaller than"),                     # header shorter than its own fields
    ((16, 48, (1 << 64) - 1), "entries of"),          # count far past the stream
    ((16, 48, 2), "entries of"),                      # one entry more than the stream holds
])
def test_memory_info_list_inconsistent_header_is_corrupt(header, message):
    raw = struct.pack("<IIQ", *header) + b"\0" * 48
    with pytest.raises(CorruptStream, match=message) as err:
        parse_memory_info_list(raw, 0, len(raw))
    assert err.value.stream_type == MemoryInfoListStream
