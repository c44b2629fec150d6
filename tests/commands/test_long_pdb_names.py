"""A PDB name of 252-255 bytes passes the name check, but names derived from it (``x.pdb.sym``,
``x.sym`` for a name without ``.pdb``) exceed the file system's 255 bytes: the walk goes on
without that module's symbols, and says so."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from commands.cli import cli
from tests.cli_runner import split_runner
from tests.conftest import corpus_path

pytest.importorskip("symbolic")

MODULE_LIST = 4


def with_pdb_name(dump: bytes, name: str) -> bytes:
    """``dump`` with its first module's RSDS record moved to the end, carrying ``name``."""
    d = bytearray(dump)
    count, directory = struct.unpack_from("<II", d, 8)
    for i in range(count):
        stream, _size, at = struct.unpack_from("<III", d, directory + 12 * i)
        if stream == MODULE_LIST:
            entry = at + 4                       # module 0; CvRecord sits 76 bytes into it
            cv_size, cv_rva = struct.unpack_from("<II", d, entry + 76)
            cv = bytes(d[cv_rva:cv_rva + cv_size])
            assert cv[:4] == b"RSDS"
            record = cv[:24] + name.encode() + b"\0"
            struct.pack_into("<II", d, entry + 76, len(record), len(d))
            return bytes(d + record)
    raise AssertionError("no module list")


@pytest.mark.parametrize("name", ["a" * 248 + ".pdb", "b" * 251 + ".pdb", "c" * 252, "d" * 255])
def test_a_pdb_name_at_the_length_limit_walks_on_without_that_modules_symbols(tmp_path, name):
    assert 252 <= len(name) <= 255
    dump = tmp_path / "long.dmp"
    dump.write_bytes(with_pdb_name(corpus_path("breakpad/processor/minidump2.dmp").read_bytes(),
                                   name))
    symbols = str(corpus_path("breakpad/processor/symbols"))
    result = split_runner().invoke(cli, ["stack", str(dump), "-y", symbols])
    assert result.exit_code == 0, result.output
    assert "File name too long" not in result.output
    frames = [line for line in result.stdout.splitlines() if line[:2].isdigit()]
    assert len(frames) >= 2                             # the walk went on
    assert "kernel32" in result.stdout                  # other modules keep their symbols
    assert "test_app!main" not in result.stdout         # this one has none
    told = split_runner().invoke(cli, ["analyze", "--json", str(dump), "-y", symbols])
    assert told.exit_code == 0, told.output
    status = {s["module"]: s for s in json.loads(told.stdout)["symbol_status"]}["test_app.exe"]
    assert status["status"] == "missing"
    if len(name.encode()) + 4 > 255 or not name.endswith(".pdb"):
        assert "255-byte limit" in status["reason"]       # and the user is told why


def test_a_symbol_server_answering_for_a_too_long_name_is_not_cached(tmp_path):
    from tests.toolkit.symbols.symserver import SymServer

    from toolkit.model.debug_id import DebugId
    from toolkit.symbols.locator import SymbolLocator
    from toolkit.symbols.symbol_path import SymbolPath

    did = DebugId.parse("5A9832E5287241C1838ED98914E9B7FF1")
    name = "e" * 253                                    # no .pdb: its .sym would be 257 bytes
    with SymServer(tmp_path / "server") as server:
        server.substitute[f"{name}/{did.breakpad}/{name}.sym"] = corpus_path(
            f"breakpad/processor/symbols/test_app.pdb/{did.breakpad}/test_app.sym")
        loc = SymbolLocator(SymbolPath.parse(f"srv*{tmp_path / 'cache'}*{server.url}"),
                            http_timeout=5.0, backoff=0.01)
        assert loc.find_debug_file(name, did, ("sym",)) is None
        assert server.count(f"{name}/{did.breakpad}/{name}.sym") == 1
    assert [p.code for p in loc.problems] == ["name-too-long", "unsafe-name"]
    assert "over 255 bytes" in loc.problems[1].message
    assert [p.name for p in (tmp_path / "cache").rglob("*") if p.is_file()] == []
