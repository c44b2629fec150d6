"""toolkit.targets.trace: capture, write, read back, refuse corrupt files, symbolize from the blob alone."""

from __future__ import annotations

import shutil
import struct

import pytest

from tests.conftest import corpus_path
from toolkit.model.errors import CorruptInput, InputError
from toolkit.symbols.resolver import identity_of_image
from toolkit.targets.trace import TraceEvents, capture_module, is_trace, read_trace, write_trace

CRASH = "symbolic/windows/crash.exe"
BASIC = "mozilla-dump_syms/windows/basic32.dll"


def events(addresses_per_event):
    n = len(addresses_per_event)
    return TraceEvents.from_rows(range(0, 10 * n, 10), [0x1C] * n, addresses_per_event)


def test_captured_module_carries_the_images_codeview_identity():
    image = corpus_path(CRASH)
    module = capture_module(image)[0].to_module()
    ident = identity_of_image(image)
    assert (module.debug_id, module.pdb_name) == (ident.debug_id, ident.pdb_name)
    assert module.code_id == ident.code_id and module.base == 0x400000


def test_write_then_read_gives_the_same_modules_and_events(tmp_path):
    crash, machine = capture_module(corpus_path(CRASH))
    basic, _ = capture_module(corpus_path(BASIC), 0x10000000)
    out = tmp_path / "a.trace"
    write_trace(out, [crash, basic], events([[0x402A3D], [0x401000, 0x10001000]]),
                machine=machine, pointer_size=4)
    trace = read_trace(out)
    assert trace.modules == (crash, basic)
    assert trace.events.addresses.tolist() == [0x402A3D, 0x401000, 0x10001000]
    assert trace.events.offsets.tolist() == [0, 1]
    assert trace.events.event_of_address().tolist() == [0, 1, 1]
    assert is_trace(out) and not is_trace(corpus_path(CRASH))


def test_truncated_file_is_corrupt_input_with_offset(tmp_path):
    out = tmp_path / "a.trace"
    write_trace(out, [capture_module(corpus_path(CRASH))[0]], events([[1, 2, 3]]))
    out.write_bytes(out.read_bytes()[:-5])
    with pytest.raises(CorruptInput, match="runs past the end"):
        read_trace(out)


def test_event_counts_that_disagree_with_the_record_size_are_refused(tmp_path):
    out = tmp_path / "a.trace"
    write_trace(out, [], events([[1, 2]]))
    data = bytearray(out.read_bytes())
    struct.pack_into("<I", data, 0x20 + 8 + 4, 10 ** 9)     # AddressCount: a billion
    out.write_bytes(bytes(data))
    with pytest.raises(CorruptInput, match="sizes disagree"):
        read_trace(out)


def test_newer_major_version_is_declined_in_one_line(tmp_path):
    out = tmp_path / "a.trace"
    write_trace(out, [], None)
    data = bytearray(out.read_bytes())
    struct.pack_into("<H", data, 8, 9)
    out.write_bytes(bytes(data))
    with pytest.raises(InputError, match="version 9"):
        read_trace(out)


def test_trace_symbolizes_with_only_the_blob_and_a_pdb_or_sym(tmp_path):
    """The round trip of the issue: capture from PEs, then resolve with no PE on the path."""
    pytest.importorskip("symbolic")
    from toolkit.symbols.module_index import ModuleIndex
    from toolkit.symbols.resolver import Resolver
    from toolkit.symbols.batch import symbolize_batch

    crash, machine = capture_module(corpus_path(CRASH))
    basic, _ = capture_module(corpus_path(BASIC), 0x10000000)
    out = tmp_path / "a.trace"
    write_trace(out, [crash, basic], events([[0x402A3D, 0x401000], [0x10006BE0 + 4]]),
                machine=machine, pointer_size=4)
    store = tmp_path / "store"                           # symbols only: no crash.exe, no dll
    store.mkdir()
    shutil.copy(corpus_path("symbolic/windows/crash.pdb"), store)
    shutil.copy(corpus_path("mozilla-dump_syms/windows/basic32.sym"), store)
    trace = read_trace(out)
    resolver = Resolver.from_symbol_path(str(store), cache_dir=tmp_path / "cache")
    result = symbolize_batch(resolver, ModuleIndex([m.to_module() for m in trace.modules]),
                             trace.events.addresses)
    assert result.names().tolist() == [
        "main(int, char**)",                                               # crash.pdb
        "google_breakpad::CrashGenerationClient::RequestDump(_EXCEPTION_POINTERS*, "
        "MDRawAssertionInfo*)",
        "test1(int*)",                                  # basic32.sym: FUNC 6be0 18 0 test1(int*)
    ]
    assert result.displacement.tolist() == [0x12D, 0, 4]
