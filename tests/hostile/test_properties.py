"""Property tests over the untrusted-input parsers (issue 12): whatever the bytes or text, each
parser returns or raises our documented error (``DumpkitError``), never anything else.
About 10k examples per run in all."""

from __future__ import annotations

import os
import struct
import tempfile

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from parsers.modload_data import looks_like_debug_blob, parse_debug_blob  # noqa: E402
from tests.hostile.hostile_inputs import SAMPLE_X64  # noqa: E402
from toolkit.model.errors import DumpkitError  # noqa: E402
from toolkit.symbols.symbolize import module_from_json  # noqa: E402
from toolkit.targets.open import open_target  # noqa: E402
from toolkit.targets.trace import read_trace  # noqa: E402
from toolkit.waitgraph.builders.transcript_parse import parse_transcript  # noqa: E402

FAST = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
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
