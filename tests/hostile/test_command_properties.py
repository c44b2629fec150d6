"""Property tests over whole commands (issue 12): real sample dumps with edits inside their
streams, their directory and the memory the MemoryList maps (tests/hostile/mutate.py), run
through ``info``, ``stack``, ``scan``, ``exchain`` and ``analyze``. Whatever the edits, a command
ends with exit 0 (JSON on stdout) or 2 (one line on stderr) — ``exchain`` may also say 1,
nothing to analyse — and never with a Python exception. The click commands run in-process
(CliRunner): a subprocess per example would spend the time budget on interpreter start-up; a
few examples go through the installed ``dumpkit`` script to show the same holds there, and that
no traceback reaches stderr.

Examples per run: 5 commands x 40 in-process + 20 through the script = 220 (see
tests/hostile/README.md).
"""

from __future__ import annotations

import json
import struct
import tempfile
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

from commands.cli import cli  # noqa: E402
from parsers.minidump import MINIDUMP_DIRECTORY, MINIDUMP_HEADER  # noqa: E402
from tests.cli_runner import split_runner  # noqa: E402
from tests.hostile.hostile_inputs import REPO, run_dumpkit  # noqa: E402
from tests.hostile.mutate import PROPERTY_SETTINGS, apply_edits, edits  # noqa: E402

DUMPS = REPO / "samples/dumps"
SYMBOLS = REPO / "samples/bin"
SAMPLES = ["seh_x86-normal.dmp", "deadlock_mutex_x86-normal.dmp", "crash_x64-normal.dmp"]
COMMANDS = ["info", "stack", "scan", "exchain", "analyze"]
MEMORY_LIST = 5


def dump_regions(dump: bytes) -> list:
    """[start, end) of the header with the directory, of every stream, and of the memory each
    MemoryList descriptor maps (stacks, code around the IPs)."""
    header = MINIDUMP_HEADER.parse(dump)
    step = MINIDUMP_DIRECTORY.sizeof()
    regions = [(0, header.StreamDirectoryRva + header.NumberOfStreams * step)]
    for i in range(header.NumberOfStreams):
        entry = MINIDUMP_DIRECTORY.parse(dump[header.StreamDirectoryRva + i * step:])
        rva, size = entry.Location.Rva, entry.Location.DataSize
        regions.append((rva, rva + size))
        if int(entry.StreamType) == MEMORY_LIST:
            (count,) = struct.unpack_from("<I", dump, rva)
            for k in range(count):
                _start, data_size, data_rva = struct.unpack_from("<QII", dump, rva + 4 + 16 * k)
                regions.append((data_rva, data_rva + data_size))
    return regions


ORIGINALS = {name: (DUMPS / name).read_bytes() for name in SAMPLES}
REGIONS = {name: dump_regions(data) for name, data in ORIGINALS.items()}


def mutated(name: str, chosen) -> bytes:
    data = ORIGINALS[name]
    return apply_edits(data, REGIONS[name], chosen, extra=[len(data)])


def allowed_exits(command: str) -> tuple:
    return (0, 1, 2) if command == "exchain" else (0, 2)


def args_for(command: str, path: Path) -> list:
    symbols = [] if command == "info" else ["-y", str(SYMBOLS)]
    return [command, str(path), *symbols, "--json"]


def run_in_process(command: str, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mutated.dmp"
        path.write_bytes(data)
        result = split_runner().invoke(cli, args_for(command, path))
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        f"{command}: {result.exception!r}"
    assert result.exit_code in allowed_exits(command), (command, result.exit_code)
    if result.exit_code == 0:
        assert json.loads(result.stdout)["command"] == command
    elif result.exit_code == 2:
        assert len(result.stderr.splitlines()) == 1, result.stderr


@pytest.mark.parametrize("command", COMMANDS)
@settings(max_examples=40, **PROPERTY_SETTINGS)
@given(name=st.sampled_from(SAMPLES), chosen=edits())
def test_a_command_on_a_mutated_dump_exits_0_or_2_without_an_exception(command, name, chosen):
    run_in_process(command, mutated(name, chosen))


@settings(max_examples=20, **PROPERTY_SETTINGS)
@given(command=st.sampled_from(COMMANDS), name=st.sampled_from(SAMPLES), chosen=edits())
def test_the_installed_script_on_a_mutated_dump_exits_0_or_2_without_a_traceback(command, name,
                                                                                chosen):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mutated.dmp"
        path.write_bytes(mutated(name, chosen))
        out = run_dumpkit(*args_for(command, path))
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    assert out.returncode in allowed_exits(command), (command, out.returncode, out.stderr[-2000:])
    if out.returncode == 2:
        assert len(out.stderr.splitlines()) == 1, out.stderr
