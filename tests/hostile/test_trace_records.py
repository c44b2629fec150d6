"""Traces of many tiny records (issue 12): docs/trace-format.md promises a reader never allocates
more than the file holds. Measured with tracemalloc (numpy reports its buffers to it), so the
bound is exact bytes, not time."""

from __future__ import annotations

import struct
import tracemalloc

import pytest

from parsers.trace import (TRACE_FILE_HEADER, TRACE_FILE_HEADER_SIZE, TRACE_RECORD_TYPE,
                           TRACE_VERSION)
from toolkit.model.errors import CorruptInput
from toolkit.targets.trace import TraceEvents, read_trace, write_trace

EVENTS = TRACE_RECORD_TYPE["TRACE_RECORD_EVENTS"]


def trace_bytes(records: bytes) -> bytes:
    header = TRACE_FILE_HEADER.build(dict(
        Version=TRACE_VERSION, HeaderSize=TRACE_FILE_HEADER_SIZE,
        Machine="IMAGE_FILE_MACHINE_AMD64", PointerSize=8, Reserved0=0, StartTime=0,
        Reserved1=bytes(8)))
    return header + records


def event_block(timestamps, tids, counts, addresses) -> bytes:
    body = struct.pack("<II", len(timestamps), len(addresses)) + b"".join([
        struct.pack(f"<{len(timestamps)}Q", *timestamps),
        struct.pack(f"<{len(tids)}I", *tids), struct.pack(f"<{len(counts)}I", *counts),
        struct.pack(f"<{len(addresses)}Q", *addresses)])
    return struct.pack("<HHI", EVENTS, 0, len(body)) + body


def peak_bytes_reading(path) -> int:
    tracemalloc.start()
    try:
        read_trace(path)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("block", [event_block([], [], [], []),
                                   event_block([7], [1], [0], []),
                                   event_block([7], [1], [1], [0x401000])],
                         ids=["empty", "one-event", "one-address"])
def test_a_million_tiny_blocks_cost_at_most_twice_the_file(tmp_path, block):
    path = tmp_path / "tiny.trace"
    path.write_bytes(trace_bytes(block * (1 << 20) if len(block) == 16 else
                                 block * (1 << 16)))
    size = path.stat().st_size
    # the file read once, then the columns and the block index: no more than the file again
    assert peak_bytes_reading(path) <= 2.2 * size + (1 << 20)


def test_tiny_blocks_keep_every_event_in_order(tmp_path):
    path = tmp_path / "mixed.trace"
    path.write_bytes(trace_bytes(event_block([], [], [], []) + event_block([5], [1], [1], [0x10])
                                 + event_block([], [], [], []) +
                                 event_block([6, 7], [2, 3], [0, 2], [0x20, 0x30])))
    events = read_trace(path).events
    assert events.timestamps.tolist() == [5, 6, 7] and events.thread_ids.tolist() == [1, 2, 3]
    assert events.counts.tolist() == [1, 0, 2] and events.addresses.tolist() == [0x10, 0x20, 0x30]


def test_counts_disagreeing_with_a_block_after_many_good_ones_are_corrupt(tmp_path):
    path = tmp_path / "bad.trace"
    path.write_bytes(trace_bytes(event_block([5], [1], [1], [0x10]) * 1000
                                 + event_block([6], [1], [2], [0x20])))
    with pytest.raises(CorruptInput, match="do not sum"):
        read_trace(path)


def test_addresses_without_events_are_corrupt(tmp_path):
    path = tmp_path / "orphans.trace"
    path.write_bytes(trace_bytes(event_block([], [], [], [0x10])))
    with pytest.raises(CorruptInput, match="no events"):
        read_trace(path)


def test_written_events_still_read_back(tmp_path):
    path = tmp_path / "w.trace"
    events = TraceEvents.from_rows([1, 2], [3, 4], [[0x10, 0x11], [0x12]])
    write_trace(path, [], events)
    back = read_trace(path).events
    assert back.addresses.tolist() == [0x10, 0x11, 0x12] and back.counts.tolist() == [2, 1]
