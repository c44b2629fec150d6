"""``toolkit.triage.inputs.collect``: every way of naming dumps finds the same sample dumps,
told by their bytes; every other file is skipped with a reason."""

from __future__ import annotations

import gzip
import hashlib
import io
import lzma
import tarfile
import zipfile
from pathlib import Path

import zstandard

from tests.conftest import SAMPLES
from toolkit.triage.inputs import collect

DUMPS = sorted((SAMPLES / "dumps").glob("*.dmp"))
CRASH = SAMPLES / "dumps" / "crash_x64-normal.dmp"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def staged(tmp_path: Path) -> str:
    d = tmp_path / "staging"
    d.mkdir(exist_ok=True)
    return str(d)


def test_a_directory_is_read_recursively_and_non_dumps_are_skipped(tmp_path):
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    (nested / "crash.dmp").write_bytes(CRASH.read_bytes())
    (tmp_path / "a" / "readme.txt").write_text("hello")
    (tmp_path / "a" / "tool.exe").write_bytes(b"MZ" + b"\0" * 100)
    found = collect([str(tmp_path / "a")], staged(tmp_path))
    assert [i.name for i in found.items] == [str(nested / "crash.dmp")]
    assert found.items[0].sha256 == sha(CRASH) and found.items[0].size == CRASH.stat().st_size
    assert sorted((Path(s.name).name, s.reason) for s in found.skipped) == [
        ("readme.txt", "not a dump (no MDMP signature)"), ("tool.exe", "not a dump (a PE image)")]


def test_a_glob_and_a_list_file_name_the_same_dumps(tmp_path):
    pattern = str(SAMPLES / "dumps" / "*-normal.dmp")
    listed = tmp_path / "list.txt"
    listed.write_text("# dumps\n" + "\n".join(str(p) for p in DUMPS if "-normal" in p.name)
                      + "\n\n")
    by_glob = collect([pattern], staged(tmp_path))
    by_list = collect([f"@{listed}"], staged(tmp_path))
    assert [i.sha256 for i in by_glob.items] == [i.sha256 for i in by_list.items]
    assert len(by_glob.items) == len([p for p in DUMPS if "-normal" in p.name]) >= 3


def test_missing_paths_and_empty_globs_are_skipped_not_fatal(tmp_path):
    found = collect([str(tmp_path / "nope.dmp"), str(tmp_path / "*.none"), str(CRASH)],
                    staged(tmp_path))
    assert len(found.items) == 1
    assert [s.reason for s in found.skipped] == ["no such file or directory",
                                                "no file matches the pattern"]


def test_compressed_dumps_are_items_analysed_in_place(tmp_path):
    data = CRASH.read_bytes()
    (tmp_path / "c.dmp.gz").write_bytes(gzip.compress(data))
    (tmp_path / "c.dmp.xz").write_bytes(lzma.compress(data))
    (tmp_path / "c.dmp.zst").write_bytes(zstandard.ZstdCompressor().compress(data))
    (tmp_path / "notes.txt.gz").write_bytes(gzip.compress(b"just text"))
    found = collect([str(tmp_path / n) for n in ("c.dmp.gz", "c.dmp.xz", "c.dmp.zst",
                                                "notes.txt.gz")], staged(tmp_path))
    assert [Path(i.path).name for i in found.items] == ["c.dmp.gz", "c.dmp.xz", "c.dmp.zst"]
    assert [(Path(s.name).name, s.reason) for s in found.skipped] == [
        ("notes.txt.gz", "gzip-compressed, not a dump")]


def test_zip_members_are_staged_as_plain_dumps(tmp_path):
    archive = tmp_path / "dumps.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for p in DUMPS[:3]:
            z.write(p, f"in/{p.name}")
        z.writestr("in/README", "text")
    found = collect([str(archive)], staged(tmp_path))
    assert [i.name for i in found.items] == [f"{archive}!in/{p.name}" for p in DUMPS[:3]]
    for item, original in zip(found.items, DUMPS[:3]):
        assert Path(item.path).read_bytes() == original.read_bytes()
        assert item.sha256 == sha(original)
    assert [(s.name, s.reason) for s in found.skipped] == [
        (f"{archive}!in/README", "not a dump (no MDMP signature)")]


def _tar(members, compress=None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for p in members:
            t.add(str(p), arcname=f"d/{p.name}")
    raw = buf.getvalue()
    return compress(raw) if compress else raw


def test_tar_archives_plain_and_compressed_yield_their_dumps(tmp_path):
    kinds = {"a.tar": None, "a.tar.gz": gzip.compress, "a.tar.xz": lzma.compress,
             "a.tar.zst": zstandard.ZstdCompressor().compress}
    for name, compress in kinds.items():
        (tmp_path / name).write_bytes(_tar(DUMPS[:2], compress))
    for name in kinds:
        found = collect([str(tmp_path / name)], staged(tmp_path))
        assert [i.sha256 for i in found.items] == [sha(p) for p in DUMPS[:2]], name
        assert found.items[0].name == f"{tmp_path / name}!d/{DUMPS[0].name}"


def test_the_same_bytes_twice_are_one_item(tmp_path):
    copy = tmp_path / "copy.dmp"
    copy.write_bytes(CRASH.read_bytes())
    found = collect([str(CRASH), str(copy), str(CRASH)], staged(tmp_path))
    assert len(found.items) == 1
    assert [(s.name, s.reason) for s in found.skipped] == [
        (str(copy), "the same bytes as another input")]


def test_an_archive_member_past_the_cap_is_skipped(tmp_path):
    archive = tmp_path / "big.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("huge.dmp", b"MDMP" + b"\0" * (4 << 20))
    found = collect([str(archive)], staged(tmp_path), limit=1 << 20)
    assert found.items == []
    assert "more than 1048576 bytes" in found.skipped[0].reason
    assert list(Path(staged(tmp_path)).iterdir()) == []


def test_a_damaged_archive_is_skipped_with_its_reason(tmp_path):
    bad = tmp_path / "bad.tar.xz"
    bad.write_bytes(lzma.compress(_tar(DUMPS[:1]))[:200])
    found = collect([str(bad)], staged(tmp_path))
    assert found.items == [] and found.skipped[0].name == str(bad)
    assert found.skipped[0].reason.startswith("damaged archive")
