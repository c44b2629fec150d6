"""``-y`` naming a missing directory warns; ``-y`` naming one symbol file (.sym, .pdb) makes it
the symbol source of the module whose debug id it carries, and a mismatch is reported."""

from __future__ import annotations

import json

import pytest

from commands.cli import cli
from tests.cli_runner import split_runner
from tests.conftest import corpus_path

pytest.importorskip("symbolic")

APP_ID = "5A9832E5287241C1838ED98914E9B7FF1"


def dump() -> str:
    return str(corpus_path("breakpad/processor/minidump2.dmp"))


def app_sym():
    return corpus_path(f"breakpad/processor/symbols/test_app.pdb/{APP_ID}/test_app.sym")


def test_a_missing_directory_on_the_symbol_path_is_warned_about(tmp_path):
    missing = tmp_path / "no-such-dir"
    result = split_runner().invoke(cli, ["stack", dump(), "-y", str(missing)])
    assert result.exit_code == 0, result.output
    assert f"warning: symbol path element {missing} does not exist" in result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("warning:")] == \
        [f"warning: symbol path element {missing} does not exist; nothing is searched there"]


def test_an_existing_directory_and_a_cache_to_be_are_not_warned_about(tmp_path):
    symbols = corpus_path("breakpad/processor/symbols")
    result = split_runner().invoke(cli, ["stack", dump(), "-y",
                                      f"cache*{tmp_path / 'new-cache'};{symbols}"])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr


def test_a_single_sym_file_is_the_symbol_source_of_its_module():
    result = split_runner().invoke(cli, ["stack", dump(), "-y", str(app_sym())])
    assert result.exit_code == 0, result.output
    assert "test_app!main+0x50 [c:\\test_app.cc @ 65]" in result.stdout
    assert " cfi " in result.stdout                      # its STACK records unwind too


def test_a_single_pdb_file_is_the_symbol_source_of_its_module(tmp_path, monkeypatch):
    monkeypatch.setenv("DUMPKIT_SYMBOL_CACHE", str(tmp_path / "cache"))
    pdb = corpus_path("symbolic/windows/crash.pdb")
    result = split_runner().invoke(cli, ["stack", str(corpus_path("symbolic/windows/mini.dmp")),
                                         "-y", str(pdb)])
    assert result.exit_code == 0, result.output
    assert "crash!main(int, char**)+0x12d" in result.stdout
    assert f"*** exact symbols for crash.exe: {pdb}" in result.stderr


def test_a_single_file_with_another_id_is_reported_as_a_mismatch(tmp_path):
    other = tmp_path / "test_app.sym"
    text = app_sym().read_text(errors="replace")
    other.write_text(text.replace(APP_ID, "0" * 32 + "1", 1))
    result = split_runner().invoke(cli, ["analyze", "--json", dump(), "-y", str(other)])
    assert result.exit_code == 0, result.output
    status = {s["module"]: s for s in json.loads(result.stdout)["symbol_status"]}["test_app.exe"]
    assert status["status"] == "id_mismatch"
    assert APP_ID in status["reason"] and "test_app.sym" in status["reason"]
