"""Compressed dumps open through open_target (so in every command) and fail in one line."""

from __future__ import annotations

import bz2
import gzip
import lzma
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import zstandard

from conftest import SAMPLES
from toolkit.model.errors import InputError
from toolkit.targets.open import open_target

SAMPLE = SAMPLES / "dumps" / "crash_x64-normal.dmp"
RAW = SAMPLE.read_bytes()
PACKERS = {
    "xz": lambda b: lzma.compress(b),
    "gz": lambda b: gzip.compress(b),
    "zst": lambda b: zstandard.ZstdCompressor().compress(b),
    "bz2": lambda b: bz2.compress(b),
}


def _facts(target):
    return ([t.tid for t in target.threads()], [(m.base, m.name) for m in target.modules()],
            target.exception().code, target.read(target.threads()[0].registers.sp, 16))


def _zip(path: Path, members) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            z.writestr(name, data)
    return path


@pytest.mark.parametrize("ext", sorted(PACKERS))
def test_compressed_dump_reads_like_the_plain_one(tmp_path, ext):
    packed = tmp_path / f"crash.dmp.{ext}"
    packed.write_bytes(PACKERS[ext](RAW))
    assert _facts(open_target(packed)) == _facts(open_target(SAMPLE))


def test_zip_holding_one_dump_reads_like_the_plain_one(tmp_path):
    z = _zip(tmp_path / "crash.zip", [("crash_x64.dmp", RAW)])
    assert _facts(open_target(z)) == _facts(open_target(SAMPLE))


def test_format_is_told_by_magic_not_by_name(tmp_path):
    odd = tmp_path / "crash.dmp"            # xz data under a plain name
    odd.write_bytes(lzma.compress(RAW))
    assert _facts(open_target(odd)) == _facts(open_target(SAMPLE))


def test_unpacked_copy_is_removed_once_mapped(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    packed = tmp_path / "crash.dmp.gz"
    packed.write_bytes(gzip.compress(RAW))
    target = open_target(packed)
    assert target.path == str(packed)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crash.dmp.gz"]
    assert target.threads()


def test_truncated_archive_is_one_input_error(tmp_path):
    bad = tmp_path / "crash.dmp.xz"
    bad.write_bytes(lzma.compress(RAW)[:2000])
    with pytest.raises(InputError) as info:
        open_target(bad)
    assert "damaged xz archive" in str(info.value) and "\n" not in str(info.value)


def test_corrupt_gzip_crc_is_one_input_error(tmp_path):
    data = bytearray(gzip.compress(RAW))
    data[-8] ^= 0xFF                          # the CRC32 trailer
    bad = tmp_path / "crash.dmp.gz"
    bad.write_bytes(bytes(data))
    with pytest.raises(InputError, match="damaged gzip archive"):
        open_target(bad)


def test_expansion_past_the_cap_is_refused(tmp_path):
    bomb = tmp_path / "bomb.dmp.zst"
    bomb.write_bytes(zstandard.ZstdCompressor().compress(b"MDMP" + bytes(50 << 20)))
    with pytest.raises(InputError, match="more than 1048576 bytes"):
        open_target(bomb, max_decompressed=1 << 20)


def test_cap_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DUMPKIT_MAX_DECOMPRESSED", "4096")
    packed = tmp_path / "crash.dmp.gz"
    packed.write_bytes(gzip.compress(RAW))
    with pytest.raises(InputError, match="more than 4096 bytes"):
        open_target(packed)


def test_zip_of_several_files_is_refused(tmp_path):
    z = _zip(tmp_path / "two.zip", [("a.dmp", RAW), ("b.dmp", RAW)])
    with pytest.raises(InputError, match="holds 2 files"):
        open_target(z)


def test_compressed_non_dump_names_the_archive(tmp_path):
    packed = tmp_path / "notes.txt.gz"
    packed.write_bytes(gzip.compress(b"hello"))
    with pytest.raises(InputError) as info:
        open_target(packed)
    assert str(packed) in str(info.value) and "no MDMP signature" in str(info.value)


def _dumpkit() -> list:
    exe = Path(sys.executable).parent / "dumpkit"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "toolkit"]


def test_cli_reads_a_zstd_dump_and_refuses_a_damaged_one_in_one_line(tmp_path):
    good = tmp_path / "crash.dmp.zst"
    good.write_bytes(PACKERS["zst"](RAW))
    out = subprocess.run(_dumpkit() + ["info", str(good)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and "crash_x64.exe" in out.stdout, out.stderr
    bad = tmp_path / "bad.dmp.zst"
    bad.write_bytes(good.read_bytes()[:500])
    out = subprocess.run(_dumpkit() + ["stack", str(bad)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.startswith("InputError: ") and len(out.stderr.splitlines()) == 1


SEH_SAMPLE = SAMPLES / "dumps" / "seh_x86-full-trim-cv.dmp"


@pytest.mark.parametrize("argv", [["info"], ["stack"], ["scan"], ["exchain"], ["debugdir"],
                                  ["deadlock"], ["analyze"]], ids=lambda a: a[0])
def test_every_dump_command_reads_an_xz_dump_like_the_plain_one(tmp_path, argv):
    packed = tmp_path / "seh.dmp.xz"
    packed.write_bytes(lzma.compress(SEH_SAMPLE.read_bytes()))
    plain = subprocess.run(_dumpkit() + argv + ["--json", str(SEH_SAMPLE)], capture_output=True,
                           text=True, timeout=300)
    xz = subprocess.run(_dumpkit() + argv + ["--json", str(packed)], capture_output=True,
                        text=True, timeout=300)
    assert plain.returncode == xz.returncode == 0, xz.stderr
    assert xz.stdout.replace(str(packed), str(SEH_SAMPLE)) == plain.stdout
