"""The struct-only reader behind ``dumpkit info`` (toolkit/targets/minidump/structread.py) answers
exactly as the full reader (``MinidumpTarget``, construct layouts and the ``minidump`` package),
or declines: on every corpus dump and shipped sample, and on mutations of a sample."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parsers.minidump import MINIDUMP_DIRECTORY, MINIDUMP_HEADER, MINIDUMP_STREAM_TYPE
from tests.conftest import REPO, corpus_path
from tests.corpus.test_all_dumps import DUMPS
from toolkit.model.errors import DumpkitError
from toolkit.targets.minidump.structread import (KNOWN_STREAM_TYPES, NeedsFullReader, StructDump,
                                                 read_directory)
from toolkit.targets.open import open_target
from toolkit.triage.summary import summarize, summarize_file

SAMPLES = sorted(str(p.relative_to(REPO)) for p in (REPO / "samples" / "dumps").glob("*.dmp"))
BENCH_SAMPLE = REPO / "samples" / "dumps" / "crash_x64-normal.dmp"


def dump_path(rel: str):
    return REPO / rel if rel.startswith("samples/") else corpus_path(rel)


def full_summary(path):
    """The full reader's summary, or the error it stops with."""
    try:
        return summarize(open_target(path))
    except (DumpkitError, OSError) as exc:
        return exc


@pytest.mark.parametrize("rel", DUMPS + SAMPLES)
def test_struct_reader_summary_equals_the_full_readers_or_declines(rel):
    path = dump_path(rel)
    quick = summarize_file(path)
    if quick is not None:
        assert quick == full_summary(path)


@pytest.mark.parametrize("rel", DUMPS + SAMPLES)
def test_struct_reader_directory_equals_the_construct_layout(rel):
    data = dump_path(rel).read_bytes()
    if data[:4] != b"MDMP":
        pytest.skip("not a plain minidump")
    header = MINIDUMP_HEADER.parse(data)
    step = MINIDUMP_DIRECTORY.sizeof()
    if header.StreamDirectoryRva + header.NumberOfStreams * step > len(data):
        pytest.skip("directory runs past the file")
    first, counts = {}, {}
    for i in range(header.NumberOfStreams):
        at = header.StreamDirectoryRva + i * step
        e = MINIDUMP_DIRECTORY.parse(data[at:at + step])
        code = int(e.StreamType)
        if code in KNOWN_STREAM_TYPES:
            first.setdefault(code, (i, e.Location.Rva, e.Location.DataSize))
            counts[code] = counts.get(code, 0) + 1
    assert read_directory(memoryview(data), header.NumberOfStreams,
                          header.StreamDirectoryRva) == (first, counts)


def test_the_struct_readers_stream_types_are_the_construct_enums():
    assert set(KNOWN_STREAM_TYPES) == {code for code in MINIDUMP_STREAM_TYPE.decmapping if code > 2}


def test_struct_reader_answers_for_the_bench_sample_and_most_corpus_windows_dumps():
    """It must not quietly decline everything (the fallback would hide a slow ``info``)."""
    assert summarize_file(BENCH_SAMPLE) is not None
    answered = [rel for rel in DUMPS if rel.startswith("breakpad/processor/")
                and summarize_file(corpus_path(rel)) is not None]
    assert len(answered) >= 10, answered


def test_info_on_a_clean_dump_imports_neither_numpy_construct_nor_the_minidump_package():
    script = ("import sys; from commands.cli import cli;"
              "cli.main(args=['info', sys.argv[1]], standalone_mode=False);"
              "print(sorted({m.split('.')[0] for m in sys.modules} & "
              "{'numpy', 'construct', 'minidump', 'pefile'}))")
    out = subprocess.run([sys.executable, "-c", script, str(BENCH_SAMPLE)], capture_output=True,
                         text=True, timeout=120, cwd=str(REPO))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "[]"


_SAMPLE_BYTES = BENCH_SAMPLE.read_bytes()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(_SAMPLE_BYTES) - 1), st.integers(0, 255)),
                min_size=1, max_size=8),
       st.sampled_from([0, 0x20, 0x400, 0x1000]))
def test_on_a_mutated_sample_the_struct_reader_agrees_or_declines(tmp_path_factory, flips, zone):
    """Byte flips anywhere (or within the first bytes, where the header, directory and most
    streams of the sample lie): the struct reader's answer is the full reader's, or none."""
    data = bytearray(_SAMPLE_BYTES)
    for at, value in flips:
        data[at % zone if zone else at] = value
    path = tmp_path_factory.mktemp("mut") / "m.dmp"
    path.write_bytes(bytes(data))
    quick = summarize_file(path)
    if quick is not None:
        assert quick == full_summary(path)


def test_struct_dump_declines_a_file_that_is_not_a_minidump(tmp_path):
    path = tmp_path / "x.dmp"
    path.write_bytes(b"PAGE" + bytes(60))
    assert summarize_file(path) is None
    with pytest.raises(NeedsFullReader):
        StructDump(path)
