"""MemoryMap: reads answer with the bytes the dump stores for an address, or say they cannot.

Every expected value is read straight from the file at the descriptor's Rva (or, for the
synthetic dump, is the address itself: mdmp_synth.py writes each qword's own address).
"""

from __future__ import annotations

import json
import mmap
import struct
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import pytest
from full_dumps import full_dump as full_dump_path

from parsers.minidump_memory import (
    MINIDUMP_MEMORY_DESCRIPTOR_DTYPE,
    Memory64ListStream,
    MemoryListStream,
    parse_memory64_list,
    parse_memory_list,
)
from tests.conftest import SHARED, corpus_path
from toolkit.model.errors import UnreadableMemory
from toolkit.model.memory import MemoryMap
from toolkit.model.target import MemoryRegion

ThreadListStream = 3


def streams(buf) -> Dict[int, Tuple[int, int]]:
    """A minimal MINIDUMP_HEADER / MINIDUMP_DIRECTORY walk: stream type -> (size, rva)."""
    count, dir_rva = struct.unpack_from("<II", buf, 8)
    found: Dict[int, Tuple[int, int]] = {}
    for i in range(count):
        stream_type, size, rva = struct.unpack_from("<III", buf, dir_rva + 12 * i)
        found.setdefault(stream_type, (size, rva))
    return found


def memory_map(buf) -> MemoryMap:
    """The dump's MemoryList and Memory64List, merged in that order."""
    found = streams(buf)
    maps = []
    if MemoryListStream in found:
        size, rva = found[MemoryListStream]
        maps.append(MemoryMap.from_memory_list(buf, parse_memory_list(buf, rva, size)))
    if Memory64ListStream in found:
        size, rva = found[Memory64ListStream]
        maps.append(MemoryMap.from_memory64_list(buf, *parse_memory64_list(buf, rva, size)))
    return MemoryMap.merged(*maps)


def thread_stacks(buf) -> List[Tuple[int, int, int]]:
    """(start, size, rva) of each MINIDUMP_THREAD's Stack descriptor (+0x18 in the 48 bytes)."""
    _, rva = streams(buf)[ThreadListStream]
    (count,) = struct.unpack_from("<I", buf, rva)
    return [struct.unpack_from("<QII", buf, rva + 4 + 48 * i + 0x18) for i in range(count)]


def descriptors(buf) -> List[Tuple[int, int, int]]:
    size, rva = streams(buf)[MemoryListStream]
    (count,) = struct.unpack_from("<I", buf, rva)
    return [struct.unpack_from("<QII", buf, rva + 4 + 16 * i) for i in range(count)]


def read_or_none(m: MemoryMap, address: int, size: int) -> Optional[bytes]:
    try:
        return m.read(address, size)
    except UnreadableMemory:
        return None


@pytest.fixture(scope="module", params=["crash-x86_64-nocrt-ext-full.dmp.xz",
                                        "deadlock-i686-nocrt-ext-full.dmp.xz"])
def full_dump(request) -> mmap.mmap:
    """Wine full-memory dumps (~28 MiB each, Memory64List only), decompressed and mapped."""
    path = full_dump_path(f"wine/dumps/{request.param}")
    with open(path, "rb") as f:
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    yield mapped


# ---- reads agree with the file ----------------------------------------------------------------

@pytest.mark.parametrize("rel", ["breakpad/processor/minidump2.dmp", "symbolic/windows/mini.dmp",
                                 "breakpad/processor/tiny-exe-with-cet-xsave.dmp"])
def test_each_memory_list_range_reads_the_bytes_at_its_rva(rel):
    buf = Path(corpus_path(rel)).read_bytes()
    m = memory_map(buf)
    for start, size, rva in descriptors(buf):
        assert m.read(start, size) == buf[rva:rva + size]


def memory64_bytes(buf, address: int, size: int) -> bytes:
    """Bytes of [address, address+size) found by walking the Memory64List with struct."""
    _, rva = streams(buf)[Memory64ListStream]
    count, offset = struct.unpack_from("<QQ", buf, rva)
    for i in range(count):
        start, n = struct.unpack_from("<QQ", buf, rva + 16 + 16 * i)
        if start <= address and address + size <= start + n:
            return bytes(buf[offset + address - start:offset + address - start + size])
        offset += n
    raise AssertionError(f"{address:#x} is in no single Memory64 range")


@pytest.mark.parametrize("rel", ["breakpad/processor/minidump2.dmp",
                                 "wine/dumps/deadlock-x86_64-mingw-ext-normal.dmp"])
def test_thread_stacks_read_the_bytes_at_their_rva(rel):
    buf = Path(corpus_path(rel)).read_bytes()
    m = memory_map(buf)
    stacks = thread_stacks(buf)
    assert stacks
    for start, size, rva in stacks:
        assert m.read(start, size) == buf[rva:rva + size]


def test_thread_stacks_of_a_full_dump_read_their_memory64_bytes(full_dump):
    # Wine writes Stack.Memory.Rva = 0 in full dumps: the bytes live only in the Memory64List
    m = memory_map(full_dump)
    stacks = thread_stacks(full_dump)
    assert stacks
    for start, size, _ in stacks:
        assert m.read(start, size) == memory64_bytes(full_dump, start, size)


def test_memory64_ranges_read_consecutive_file_bytes_from_base_rva(full_dump):
    size, rva = streams(full_dump)[Memory64ListStream]
    count, base = struct.unpack_from("<QQ", full_dump, rva)
    m = memory_map(full_dump)
    for i in range(count):
        start, n = struct.unpack_from("<QQ", full_dump, rva + 16 + 16 * i)
        assert m.read(start, min(n, 64)) == full_dump[base:base + min(n, 64)]
        assert m.read(start + n - 16, 16) == full_dump[base + n - 16:base + n]
        base += n
    assert m.total_size == base - struct.unpack_from("<QQ", full_dump, rva)[1]


def test_scalar_helpers_decode_little_endian_values():
    buf = Path(corpus_path("breakpad/processor/minidump2.dmp")).read_bytes()
    m = memory_map(buf)
    start, _, rva = descriptors(buf)[0]
    assert m.read_u32(start + 4) == struct.unpack_from("<I", buf, rva + 4)[0]
    assert m.read_u64(start + 8) == struct.unpack_from("<Q", buf, rva + 8)[0]
    assert m.read_pointer(start, 4) == struct.unpack_from("<I", buf, rva)[0]
    assert m.read_pointer(start, 8) == struct.unpack_from("<Q", buf, rva)[0]


def test_find_names_the_range_holding_an_address_and_none_outside():
    buf = Path(corpus_path("breakpad/processor/minidump2.dmp")).read_bytes()
    m = memory_map(buf)
    for start, size, _ in descriptors(buf):
        assert m.find(start) == MemoryRegion(start, size)
        assert m.find(start + size - 1) == MemoryRegion(start, size)
        if m.find(start + size) is not None:
            assert m.find(start + size).base == start + size
    assert m.find(0) is None


def test_regions_are_the_ranges_lowest_first_as_a_sequence():
    buf = Path(corpus_path("breakpad/processor/minidump2.dmp")).read_bytes()
    m = memory_map(buf)
    expected = [MemoryRegion(start, size) for start, size, _ in sorted(descriptors(buf))]
    regions = m.regions()
    assert len(regions) == len(expected) and regions == expected
    assert list(regions) == expected and regions[-1] == expected[-1]
    assert regions[1:] == expected[1:]


# ---- what cannot be read ----------------------------------------------------------------------

def test_reading_past_a_range_end_raises_with_the_request():
    buf = Path(corpus_path("breakpad/processor/minidump2.dmp")).read_bytes()
    m = memory_map(buf)
    start, size, rva = max(descriptors(buf))
    with pytest.raises(UnreadableMemory) as err:
        m.read(start + size - 4, 8)
    assert (err.value.address, err.value.size) == (start + size - 4, 8)
    assert m.read_partial(start + size - 4, 8) == buf[rva + size - 4:rva + size]
    assert not m.is_readable(start + size - 4, 8)
    assert m.is_readable(start + size - 4, 4)


def test_unmapped_and_negative_addresses_are_unreadable():
    m = memory_map(Path(corpus_path("breakpad/processor/minidump2.dmp")).read_bytes())
    for address in (0, 0x10, -8, 1 << 64, (1 << 64) - 4):
        assert read_or_none(m, address, 8) is None
        assert m.read_partial(address, 8) == b""
        assert not m.is_readable(address)


def test_a_huge_read_raises_instead_of_allocating(full_dump):
    m = memory_map(full_dump)
    run_start = int(m.starts[0])
    with pytest.raises(UnreadableMemory):
        m.read(run_start, 1 << 40)
    with pytest.raises(UnreadableMemory):
        m.view(run_start, 1 << 40)
    assert len(m.read_partial(run_start, 1 << 40)) <= m.total_size
    assert not m.is_readable(run_start, 1 << 40)


# ---- borders ----------------------------------------------------------------------------------

def test_reads_cross_borders_of_adjacent_ranges(full_dump):
    m = memory_map(full_dump)
    ends = m.starts + m.sizes
    adjacent = np.flatnonzero(m.starts[1:] == ends[:-1])
    assert len(adjacent), "the full dump has adjacent ranges (one per VirtualQuery region)"
    for i in adjacent[:10].tolist():
        border = int(m.starts[i + 1])
        before = int(m.file_offsets[i] + m.sizes[i])
        after = int(m.file_offsets[i + 1])
        assert m.read(border - 8, 16) == full_dump[before - 8:before] + full_dump[after:after + 8]


def test_reads_cross_into_an_adjacent_range_stored_elsewhere_in_the_file():
    buf = bytes(range(256)) * 2
    m = MemoryMap(buf, starts=[0x1000, 0x1010], sizes=[0x10, 0x10], file_offsets=[0x100, 0x20])
    assert m.read(0x1008, 0x10) == buf[0x108:0x110] + buf[0x20:0x28]
    assert bytes(m.view(0x1008, 0x10)) == m.read(0x1008, 0x10)
    data, valid = m.read_batch(np.array([0x1008, 0x100C, 0x1018], np.uint64), 0x10)
    assert valid.tolist() == [True, True, False]
    assert data[0].tobytes() == m.read(0x1008, 0x10)
    assert data[1].tobytes() == m.read(0x100C, 0x10)


def test_view_is_zero_copy_within_a_run_of_file_bytes(full_dump):
    m = memory_map(full_dump)
    start, size, _ = thread_stacks(full_dump)[0]
    view = m.view(start, size)
    assert view.obj is full_dump
    words = np.frombuffer(view, "<u8")
    expected = memory64_bytes(full_dump, start, size)
    assert words.tolist() == list(struct.unpack(f"<{size // 8}Q", expected))


# ---- batched == scalar ------------------------------------------------------------------------

def _probe_addresses(m: MemoryMap, rng: np.random.Generator, n: int) -> np.ndarray:
    """Inside ranges, right at their ends (crossing or past them), and far outside."""
    pick = rng.integers(0, len(m), n)
    inside = m.starts[pick] + (rng.random(n) * m.sizes[pick]).astype(np.uint64)
    near_end = m.starts[pick] + m.sizes[pick] - rng.integers(0, 12, n).astype(np.uint64)
    anywhere = rng.integers(0, 1 << 48, n, dtype=np.uint64)
    return np.concatenate([inside, near_end, anywhere])


@pytest.mark.parametrize("size", [1, 4, 8, 24])
def test_batch_reads_equal_scalar_reads_on_a_mapped_dump(full_dump, size):
    m = memory_map(full_dump)
    addresses = _probe_addresses(m, np.random.default_rng(20240611), 2000)
    data, valid = m.read_batch(addresses, size)
    for address, row, ok in zip(addresses.tolist(), data, valid.tolist()):
        expected = read_or_none(m, address, size)
        assert ok == (expected is not None)
        assert row.tobytes() == (expected if ok else bytes(size))


def test_batch_reads_equal_scalar_reads_on_a_7000_range_memory_list():
    buf = Path(corpus_path("wine/dumps/crash-x86_64-mingw-ext-normal.dmp")).read_bytes()
    m = memory_map(buf)
    addresses = _probe_addresses(m, np.random.default_rng(7), 3000)
    data, valid = m.read_batch(addresses, 8)
    scalar = [read_or_none(m, a, 8) for a in addresses.tolist()]
    assert valid.tolist() == [s is not None for s in scalar]
    assert [row.tobytes() for row, ok in zip(data, valid) if ok] == [s for s in scalar if s]


@pytest.mark.parametrize("pointer_size", [4, 8])
def test_read_pointers_equal_read_pointer(full_dump, pointer_size):
    m = memory_map(full_dump)
    addresses = _probe_addresses(m, np.random.default_rng(99), 500)
    values, valid = m.read_pointers(addresses, pointer_size)
    assert values.dtype == np.uint64
    for address, value, ok in zip(addresses.tolist(), values.tolist(), valid.tolist()):
        expected = (m.read_pointer(address, pointer_size)
                    if m.is_readable(address, pointer_size) else None)
        assert (value if ok else None) == expected


def test_batch_of_nothing_and_map_of_nothing_read_nothing():
    empty = MemoryMap(b"", [], [], [])
    data, valid = empty.read_batch(np.array([0, 1], np.uint64), 8)
    assert data.shape == (2, 8) and not valid.any()
    assert empty.regions() == [] and empty.find(0) is None


def test_close_lets_go_of_the_mapped_file(tmp_path):
    path = tmp_path / "copy.dmp"
    path.write_bytes(Path(corpus_path("breakpad/processor/minidump2.dmp")).read_bytes())
    with open(path, "rb") as f:
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    m = memory_map(mapped)
    start = int(m.starts[0])
    m.read_batch(np.array([start], np.uint64), 8)
    m.read(start, 8)
    m.close()
    mapped.close()          # raises BufferError if the map still held the buffer
    assert mapped.closed


# ---- malformed and awkward lists --------------------------------------------------------------

def test_ranges_past_the_end_of_a_truncated_file_are_clipped_with_a_problem():
    buf = Path(corpus_path("breakpad/processor/minidump2.dmp")).read_bytes()
    start, size, rva = max(descriptors(buf), key=lambda d: d[2])   # the last bytes in the file
    cut = buf[:rva + size // 2]
    table = np.array(descriptors(buf), MINIDUMP_MEMORY_DESCRIPTOR_DTYPE)
    m = MemoryMap.from_memory_list(cut, table)
    assert [p.code for p in m.problems] == ["memory.truncated"]
    assert m.read(start, size // 2) == buf[rva:rva + size // 2]
    assert not m.is_readable(start, size // 2 + 1)
    assert m.find(start) == MemoryRegion(start, size // 2)


def test_a_range_whose_rva_is_past_the_file_is_dropped_with_a_problem():
    buf = Path(corpus_path("breakpad/processor/minidump2.dmp")).read_bytes()
    table = np.array(descriptors(buf), MINIDUMP_MEMORY_DESCRIPTOR_DTYPE)
    table["Rva"][0] = 0xFFFFFFF0
    m = MemoryMap.from_memory_list(buf, table)
    assert [p.code for p in m.problems] == ["memory.truncated"]
    assert len(m) == len(table) - 1
    assert read_or_none(m, int(table["StartOfMemoryRange"][0]), 1) is None


def test_memory64_sizes_past_the_file_do_not_overflow_the_running_offset():
    sizes = np.array([(0x10, 0x10), (0x20, (1 << 64) - 1), (0x40, (1 << 63))],
                     dtype=[("StartOfMemoryRange", "<u8"), ("DataSize", "<u8")])
    m = MemoryMap.from_memory64_list(bytes(0x40), 0x20, sizes)
    assert [(r.base, r.size) for r in m.regions()] == [(0x10, 0x10), (0x20, 0x10)]
    assert [p.code for p in m.problems] == ["memory.wraps", "memory.truncated"]


def test_ranges_wrapping_past_the_address_space_are_clipped():
    m = MemoryMap(bytes(0x100), [(1 << 64) - 0x10], [0x20], [0])
    assert m.regions() == [MemoryRegion((1 << 64) - 0x10, 0xF)]
    assert [p.code for p in m.problems] == ["memory.wraps"]


def test_harmless_overlaps_are_silent_and_read_either_copy():
    # Breakpad saves 0x100 bytes around the faulting IP, which here lies in the saved stack
    buf = Path(corpus_path("breakpad/processor/exec_av_on_stack.dmp")).read_bytes()
    m = memory_map(buf)
    assert m.problems == []
    for start, size, rva in descriptors(buf):
        assert m.read(start, size) == buf[rva:rva + size]
    assert len(m) < len(descriptors(buf))


def test_conflicting_overlaps_keep_the_lower_range_and_say_so():
    buf = b"A" * 0x20 + b"B" * 0x20
    m = MemoryMap(buf, starts=[0x1010, 0x1000], sizes=[0x20, 0x20], file_offsets=[0x20, 0])
    assert m.read(0x1000, 0x30) == b"A" * 0x20 + b"B" * 0x10
    assert [p.code for p in m.problems] == ["memory.overlap"]


def test_merged_maps_prefer_the_first_map_at_equal_starts():
    buf = b"A" * 0x10 + b"B" * 0x10
    first = MemoryMap(buf, [0x1000], [0x10], [0])
    second = MemoryMap(buf, [0x1000], [0x10], [0x10])
    assert MemoryMap.merged(first, second).read(0x1000, 0x10) == b"A" * 0x10
    assert MemoryMap.merged(second, first).read(0x1000, 0x10) == b"B" * 0x10


# ---- an independent writer's dump ------------------------------------------------------------

@pytest.fixture(scope="module")
def synthetic_dump(tmp_path_factory):
    tool = SHARED / "tools" / "mdmp_synth.py"
    if not tool.exists():
        pytest.skip("../shared/tools/mdmp_synth.py absent")
    path = tmp_path_factory.mktemp("synth") / "synth.dmp"
    subprocess.run([sys.executable, str(tool), str(path), "--regions", "300",
                    "--bytes", "0x200000", "--seed", "3"], check=True, capture_output=True)
    truth = json.loads(Path(str(path) + ".json").read_text())
    return path.read_bytes(), truth


def test_every_qword_of_the_synthetic_dump_holds_its_own_address(synthetic_dump):
    buf, truth = synthetic_dump
    m = memory_map(buf)
    assert len(m) == truth["n_regions"] and m.total_size == truth["total_bytes"]
    special = m.regions()[truth["special_region"]]
    starts = m.starts[m.starts != special.base]
    sizes = m.sizes[m.starts != special.base]
    rng = np.random.default_rng(5)
    pick = rng.integers(0, len(starts), 5000)
    addresses = starts[pick] + (rng.integers(0, 1 << 30, 5000).astype(np.uint64)
                                % (sizes[pick] // np.uint64(8))) * np.uint64(8)
    values, valid = m.read_pointers(addresses, 8)
    assert valid.all() and (values == addresses).all()
    assert [m.read_u64(a) for a in addresses[:200].tolist()] == addresses[:200].tolist()
    first, last = truth["first_region"], truth["last_region"]
    assert m.read_u64(first[0]) == first[0]
    assert m.read_u64(last[0] + last[1] - 8) == last[0] + last[1] - 8
    assert read_or_none(m, last[0] + last[1], 1) is None
