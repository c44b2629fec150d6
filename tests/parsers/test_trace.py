"""parsers.trace: the trace container parses and builds back to the same bytes."""

from __future__ import annotations

from pathlib import Path

import pytest
from construct import ConstError

from parsers.trace import (
    TRACE_FILE, TRACE_FILE_HEADER, TRACE_FILE_HEADER_SIZE, TRACE_MAGIC, TRACE_RECORD,
    TRACE_RECORD_HEADER_SIZE,
)
from tests.conftest import corpus_path
from toolkit.targets.trace import TraceEvents, capture_module, write_trace

import numpy as np


def captured_trace(tmp_path: Path) -> bytes:
    """A trace written by toolkit.targets.trace's numpy writer from a real PE (an independent writer
    for the event blocks, which it emits with tobytes rather than construct)."""
    module, machine = capture_module(corpus_path("symbolic/windows/crash.exe"))
    events = TraceEvents(np.array([10, 20], np.uint64), np.array([1, 2], np.uint32),
                         np.array([1, 2], np.uint32),
                         np.array([0x402A3D, 0x401000, 0x401005], np.uint64))
    out = tmp_path / "t.trace"
    write_trace(out, [module], events, machine=machine, pointer_size=4)
    return out.read_bytes()


def test_whole_file_round_trips_byte_for_byte(tmp_path):
    data = captured_trace(tmp_path)
    assert TRACE_FILE.build(TRACE_FILE.parse(data)) == data


def test_header_fields_decode_with_names(tmp_path):
    header = TRACE_FILE_HEADER.parse(captured_trace(tmp_path))
    assert (header.Version, header.HeaderSize, header.PointerSize) == (1, TRACE_FILE_HEADER_SIZE, 4)
    assert header.Machine == "IMAGE_FILE_MACHINE_I386"
    assert TRACE_FILE_HEADER.sizeof() == TRACE_FILE_HEADER_SIZE


def test_module_record_holds_name_and_debug_blob(tmp_path):
    parsed = TRACE_FILE.parse(captured_trace(tmp_path))
    module = parsed.Records[0]
    assert module.Type == "TRACE_RECORD_MODULE"
    assert module.Body.Name == "crash.exe"
    assert module.Body.NameLength == len("crash.exe") * 2
    assert b"RSDS" in module.Body.DebugBlob


def test_event_block_is_column_wise(tmp_path):
    events = TRACE_FILE.parse(captured_trace(tmp_path)).Records[1].Body
    assert list(events.AddressesPerEvent) == [1, 2]
    assert list(events.Address) == [0x402A3D, 0x401000, 0x401005]
    assert list(events.ThreadId) == [1, 2]


def test_unknown_record_type_is_kept_as_bytes():
    raw = (7).to_bytes(2, "little") + bytes(2) + (3).to_bytes(4, "little") + b"abc"
    rec = TRACE_RECORD.parse(raw)
    assert int(rec.Type) == 7 and rec.Body == b"abc"
    assert TRACE_RECORD.build(rec) == raw
    assert TRACE_RECORD_HEADER_SIZE == 8


def test_wrong_magic_does_not_parse():
    with pytest.raises(ConstError):
        TRACE_FILE_HEADER.parse(b"MDMP" + bytes(TRACE_FILE_HEADER_SIZE - 4))
    assert TRACE_MAGIC == b"DKTRACE\x00"
