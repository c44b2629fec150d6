"""``dumpkit debugdir``: PE, dump and blob inputs, --blob, JSON shape and one-line errors."""

from __future__ import annotations

import json
import subprocess

import pytest
from click.testing import CliRunner
from conftest import corpus_path, dumpkit_script
from full_dumps import full_dump

from commands.cli import cli
from toolkit.targets.pe.image import PeImage

READOBJ = "llvm/tools/llvm-readobj/COFF"


def run(*args):
    return CliRunner().invoke(cli, ["debugdir", *map(str, args)])


def test_pe_text_reads_like_llvm_readobj():
    result = run(corpus_path(f"{READOBJ}/Inputs/has_pdb.exe"))
    assert result.exit_code == 0, result.output
    out = result.output
    assert "DebugDirectory [" in out and "Type: CODEVIEW (0x2)" in out
    assert "PDBGUID: {42408396-0781-409D-901B-4A3C0D4F5632}" in out
    assert "TimeDateStamp: 2016-06-01 22:53:16 (0x574F675C)" in out
    assert "SEHTable [ (3 handlers)" in out


def test_pe_json_has_schema_version_and_padded_addresses():
    result = run(corpus_path(f"{READOBJ}/Inputs/coff-load-config-x86.dll"), "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["schema_version"] >= 1 and doc["command"] == "debugdir" and doc["kind"] == "pe"
    image = doc["modules"][0]["image"]
    assert [h["va"] for h in image["load_config"]["safeseh_handlers"]] == ["0x10001be0", "0x10001e30"]
    assert image["load_config"]["fields"]["SecurityCookie"] == "0x10003004"
    assert "GUARD_CF" in image["dll_characteristic_names"]


def test_no_seh_flag_is_reported():
    doc = json.loads(run(corpus_path("rizin-testbins/pe/no_seh.exe"), "--json").output)
    image = doc["modules"][0]["image"]
    assert "NO_SEH" in image["dll_characteristic_names"] and image["load_config"] is None


def test_blob_written_for_a_pe_decodes_back_to_the_same_records(tmp_path):
    pe = corpus_path("rizin-testbins/pdb/vs2019_cpp_override.exe")
    out = tmp_path / "vs.dbgblob"
    assert run(pe, "--blob", out).exit_code == 0
    doc = json.loads(run(out, "--json").output)
    assert doc["kind"] == "blob"
    image = PeImage.from_file(pe)
    assert [e["type"] for e in doc["blob_entries"]] == [e.type for e in image.debug_entries]
    assert doc["blob_entries"][0]["decoded"]["debug_id"] == str(image.debug_id)
    assert all(e["address_of_raw_data"] == "0x0" for e in doc["blob_entries"])


@pytest.fixture(scope="module")
def wine_full_dump():
    return full_dump("wine/dumps/crash-i686-nocrt-ext-full.dmp.xz")


def test_dump_reports_each_module_image_and_writes_a_blob_directory(wine_full_dump, tmp_path):
    blobs = tmp_path / "blobs"
    result = run(wine_full_dump, "--json", "--blob", blobs)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    exe = next(m for m in doc["modules"] if m["name"] == "crash-i686-nocrt.exe")
    ref = PeImage.from_file(corpus_path("wine/bin/crash-i686-nocrt.exe"))
    assert exe["image"]["debug_id"] == str(ref.debug_id)
    assert len(exe["image"]["load_config"]["safeseh_handlers"]) == len(ref.safeseh_handlers)
    blob = blobs / "crash-i686-nocrt.exe.400000.dbgblob"
    assert str(blob) in doc["blobs_written"]
    back = json.loads(run(blob, "--json").output)
    assert back["blob_entries"][0]["decoded"]["debug_id"] == str(ref.debug_id)


def test_dump_without_images_names_the_modules_lacking_them():
    result = run(corpus_path("symbolic/windows/mini.dmp"))
    assert result.exit_code == 0, result.output
    assert "Modules without image bytes:" in result.output and "crash.exe" in result.output


def _one_line_error(result):
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and ": " in lines[0] and "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize("cut", [0x40, 0x100, 0x1F0])
def test_pe_truncated_inside_its_headers_gives_a_one_line_error(tmp_path, cut):
    bad = tmp_path / "cut.exe"
    bad.write_bytes(corpus_path("symbolic/windows/crash.exe").read_bytes()[:cut])
    assert _one_line_error(run(bad)).startswith("CorruptInput:")


@pytest.mark.parametrize("cut", [0x400, 0xFA0])
def test_pe_truncated_after_its_headers_reports_problems_not_errors(tmp_path, cut):
    bad = tmp_path / "cut.exe"
    bad.write_bytes(corpus_path("symbolic/windows/crash.exe").read_bytes()[:cut])
    result = run(bad)
    assert result.exit_code == 0, result.output
    assert "Problem: pe-debug-directory" in result.output
    assert "Problem: pe-load-config" in result.output


def test_not_a_pe_dump_or_blob_is_an_input_error(tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\xff" * 100)
    assert _one_line_error(run(junk)).startswith("InputError:")


def test_corrupt_headers_give_a_one_line_error(tmp_path):
    data = bytearray(corpus_path("rizin-testbins/pe/safeseh.exe").read_bytes())
    data[0x3C:0x40] = (0x7FFFFFF0).to_bytes(4, "little")      # e_lfanew far past the end
    bad = tmp_path / "bad.exe"
    bad.write_bytes(bytes(data))
    assert _one_line_error(run(bad)).startswith("CorruptInput:")


def test_installed_dumpkit_prints_one_line_for_a_truncated_pe(tmp_path):
    exe = dumpkit_script()
    bad = tmp_path / "cut.exe"
    bad.write_bytes(corpus_path("symbolic/windows/crash.exe").read_bytes()[:0x80])
    proc = subprocess.run([exe, "debugdir", str(bad)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(("CorruptInput:", "InputError:"))
    assert "Traceback" not in proc.stderr
