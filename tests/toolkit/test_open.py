"""open_target picks the reader by signature and refuses other files in one line."""

from __future__ import annotations

import pytest

from toolkit.model.errors import InputError, UnsupportedTarget
from toolkit.targets.minidump.target import MinidumpTarget
from toolkit.targets.open import open_target
from tests.conftest import corpus_path


def test_minidump_opens_as_minidump_target():
    t = open_target(corpus_path("symbolic/windows/mini.dmp"))
    assert isinstance(t, MinidumpTarget) and len(t.threads()) == 4


def test_pe_image_points_at_debugdir():
    path = corpus_path("symbolic/windows/crash.exe")
    try:
        import toolkit.targets.pe.image as pe
        if hasattr(pe, "PeTarget"):
            pytest.skip("the PE helper offers a PE target")
    except ImportError:
        pass
    with pytest.raises(InputError, match="is a PE image; use `dumpkit debugdir`"):
        open_target(path)


def test_kernel_dump_is_declined_by_name():
    with pytest.raises(UnsupportedTarget, match="kernel dump"):
        open_target(corpus_path("rizin-testbins/dmp/triage_x64.dmp"))


def test_other_files_are_not_minidumps(tmp_path):
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    with pytest.raises(InputError, match="not a minidump"):
        open_target(other)


def test_empty_file(tmp_path):
    empty = tmp_path / "empty.dmp"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        open_target(empty)


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(OSError):
        open_target(tmp_path / "absent.dmp")
