"""Property tests over the untrusted-input parsers (issue 12): whatever the bytes or text, each
parser returns or raises our documented error (``DumpkitError``), never anything else.

Examples per run: 3000 + 3000 + 2000 + 2000 + 400 + 400 = 10,800 (tests/hostile/README.md)."""

from __future__ import annotations

import os
import struct
import tempfile

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

from parsers.modload_data import looks_like_debug_blob, parse_debug_blob  # noqa: E402
from tests.hostile.hostile_inputs import REPO, SAMPLE_X64  # noqa: E402
from tests.hostile.mutate import PROPERTY_SETTINGS  # noqa: E402
from toolkit.model.errors import DumpkitError  # noqa: E402
from toolkit.symbols.resolver import Resolver  # noqa: E402
from toolkit.symbols.symbolize import Symbolizer, format_result, module_from_json  # noqa: E402
from toolkit.targets.open import open_target  # noqa: E402
from toolkit.targets.trace import read_trace  # noqa: E402
from toolkit.waitgraph.builders.transcript_parse import parse_transcript  # noqa: E402

FAST = PROPERTY_SETTINGS
TRANSCRIPT_WORDS = ["0:000> ", "kd> ", "THREAD ", "Cid ", "WAIT: (Executive) ", "PROCESS ",
                    "Object: ", "Name: ", "CritSec ", " at ", "Mutant - owning thread ",
                    "ffffe00011110000 ", "1 Id: 10.20 ", "Resource @ ", "Threads: ", "  ",
                    "\t", "\n", "9" * 40, "`", "//", "## ", "LockCount ", "OwningThread "]
SAMPLE = SAMPLE_X64.read_bytes()
HEADER = SAMPLE[:0x2000]


@settings(max_examples=3000, **FAST)
@given(st.lists(st.sampled_from(TRANSCRIPT_WORDS) | st.text(max_size=20), max_size=60))
def test_any_transcript_text_parses(words):
    parse_transcript("".join(words), "prop")


@settings(max_examples=3000, **FAST)
@given(st.binary(max_size=600))
def test_any_bytes_are_a_blob_or_refused(data):
    if looks_like_debug_blob(data):
        parse_debug_blob(data)
    else:
        try:
            parse_debug_blob(data)
        except DumpkitError:
            pass


@settings(max_examples=2000, **FAST)
@given(st.binary(max_size=400))
def test_any_trace_body_reads_or_is_corrupt_input(body):
    header = b"DKTRACE\x00" + struct.pack("<HHHHQ", 1, 0x20, 0x8664, 8, 0) + bytes(8)
    with tempfile.NamedTemporaryFile(suffix=".trace", delete=False) as fh:
        fh.write(header + body)
    try:
        read_trace(fh.name)
    except DumpkitError:
        pass
    finally:
        os.unlink(fh.name)


NUMBERS = st.integers(min_value=-(1 << 70), max_value=1 << 70) | st.text(max_size=12) | \
    st.none() | st.booleans() | st.floats()


@settings(max_examples=2000, **FAST)
@given(st.fixed_dictionaries({"name": st.text(max_size=8) | st.integers()},
                             optional={"base": NUMBERS, "size": NUMBERS, "code_id": NUMBERS,
                                       "debug_id": NUMBERS}))
def test_any_modules_json_entry_is_a_module_or_input_error(item):
    try:
        module = module_from_json(item)
    except DumpkitError:
        return
    assert module.fits_address_space


@settings(max_examples=400, **FAST)
@given(st.lists(st.tuples(st.integers(0, len(HEADER) - 1), st.integers(0, 255)),
                min_size=1, max_size=8))
def test_a_dump_with_bytes_flipped_opens_or_is_refused(flips):
    data = bytearray(SAMPLE)
    for at, value in flips:
        data[at] = value
    with tempfile.NamedTemporaryFile(suffix=".dmp", delete=False) as fh:
        fh.write(data)
    try:
        target = open_target(fh.name)
        target.modules()
        target.threads()
    except DumpkitError:
        pass
    finally:
        os.unlink(fh.name)


SYMBOLIZE_WORDS = ["0x", "0X", "402a3d", "7ff6", "1" * 17, "crash_x64.exe", "crash_x64",
                   "ntdll.dll", "kernel32", "!", "+", "main", "crash_level2", "crash_read",
                   "0x1000", "1a2f", " ", "\t", "#", "::", "(int)", "`", "\x00", "\u00e9"]


@pytest.fixture(scope="module")
def symbolize_env(tmp_path_factory):
    """A resolver over the sample binaries and the modules of a sample dump (built once: the
    symbols are loaded on the first example and reused)."""
    resolver = Resolver.from_symbol_path(str(REPO / "samples/bin"),
                                         cache_dir=tmp_path_factory.mktemp("symbolize-cache"))
    return resolver, open_target(REPO / "samples/dumps/crash_x64-normal.dmp").modules()


@settings(max_examples=400, **FAST)
@given(st.lists(st.lists(st.sampled_from(SYMBOLIZE_WORDS) | st.text(max_size=6), max_size=6)
                .map("".join), min_size=1, max_size=12))
def test_any_symbolize_lines_give_one_result_each_and_text_as_format_result(symbolize_env,
                                                                            lines):
    """Every usable line gets a location or a per-line error, never an exception, and each
    result renders as text."""
    resolver, modules = symbolize_env
    wanted = [t.strip() for t in lines if t.strip() and not t.strip().startswith("#")]
    results = list(Symbolizer(resolver, modules).run(lines))
    assert [r.text for r in results] == wanted
    assert all((r.location is None) != (r.error is None) for r in results)
    assert all(format_result(r) for r in results)
