"""A stream directory of a million entries (issue 12: ``info`` took 61 s and printed a line per
repeated stream): one pass over it, memory of its own size, one problem per repeated type."""

from __future__ import annotations

import json
import struct
import subprocess
import sys

import pytest

from tests.hostile.hostile_inputs import REPO, run_dumpkit
from toolkit.targets.minidump.file import MinidumpFile

SAMPLE = REPO / "samples/dumps/crash_x64-normal.dmp"
ENTRIES = 1_000_000
THREAD_EX_LIST = 8          # a known type no reader decodes
UNKNOWN = 0x7A7A0001


def million_stream_dump(path, known_repeats: int = 400_000) -> None:
    """The sample with ENTRIES more directory entries after its own: ``known_repeats`` of
    ThreadExListStream, as many of one unknown type, the rest each of its own unknown type."""
    src = SAMPLE.read_bytes()
    count, rva = struct.unpack_from("<II", src, 8)
    extra = bytearray()
    for i in range(ENTRIES):
        kind = THREAD_EX_LIST if i < known_repeats else \
            UNKNOWN if i < 2 * known_repeats else UNKNOWN + 1 + i
        extra += struct.pack("<III", kind, 16, 0x20)
    body = bytearray(src)
    struct.pack_into("<II", body, 8, count + ENTRIES, len(src))
    path.write_bytes(bytes(body + src[rva:rva + 12 * count] + extra))


@pytest.fixture(scope="module")
def big_dump(tmp_path_factory):
    path = tmp_path_factory.mktemp("dir") / "million.dmp"
    million_stream_dump(path)
    return path


def test_a_repeated_stream_type_is_one_problem_with_its_count(big_dump):
    with MinidumpFile(big_dump) as f:
        assert [p.message for p in f.problems] == [
            "stream ThreadExListStream appears 400000 times; the first is used"]
        assert f.stream_counts[THREAD_EX_LIST] == 400_000
        assert f.has(4) and f.entry(4).index < 20     # the sample's own ModuleList, first


def test_info_on_a_million_entries_prints_the_dump_not_the_directory(big_dump):
    out = run_dumpkit("info", str(big_dump))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "  minidump.duplicate_stream: stream ThreadExListStream appears 400000 times; the " \
           "first is used" in lines
    assert "Modules (lm): 4" in lines
    assert len(lines) < 60


def test_info_json_on_a_million_entries_has_one_problem_per_repeated_type(big_dump):
    out = run_dumpkit("info", "--json", str(big_dump))
    assert out.returncode == 0, out.stderr
    problems = json.loads(out.stdout)["problems"]
    assert [p["code"] for p in problems].count("minidump.duplicate_stream") == 1
    assert len(problems) < 10


def test_info_on_a_million_entries_stays_in_bounded_memory(big_dump):
    """Peak RSS (VmHWM, the child's own) below 150 MB for a 12 MB directory: the old reader
    kept an object per entry and a problem per repeat (450 MB here)."""
    script = ("import sys; from commands.cli import cli;"
              "cli.main(args=['info', sys.argv[1]], standalone_mode=False);"
              "print(int([l.split()[1] for l in open('/proc/self/status')"
              " if l.startswith('VmHWM')][0]))")
    proc = subprocess.run([sys.executable, "-c", script, str(big_dump)], capture_output=True,
                          text=True, timeout=300, cwd=str(REPO))
    assert proc.returncode == 0, proc.stderr
    peak_kib = int(proc.stdout.splitlines()[-1])
    assert peak_kib < 150 * 1024, f"peak RSS {peak_kib} KiB"
