"""Names from dumps are reduced to a safe basename or refused; paths never leave their root."""

from __future__ import annotations

import os

import pytest

from toolkit.symbols.safe_names import (contained, is_code_id, is_debug_id_dir, judge_name,
                                        normalize_code_id, safe_basename)


@pytest.mark.parametrize("name, expected", [
    ("crash.pdb", "crash.pdb"),
    ("..\\..\\x.pdb", "x.pdb"),
    ("../../x.pdb", "x.pdb"),
    ("/etc/passwd", "passwd"),
    ("C:\\x\\y.pdb", "y.pdb"),
    ("\\\\server\\share\\x.pdb", "x.pdb"),
    ("C:\\projects\\breakpad-tools\\windows\\Release\\crash.pdb", "crash.pdb"),
    ("tiny.exe.pdb", "tiny.exe.pdb"),
])
def test_paths_reduce_to_their_last_component(name, expected):
    assert safe_basename(name) == expected


@pytest.mark.parametrize("name", [
    "", "x\x00.pdb", "a\nb.pdb", "\x1b[31m.pdb", "..", "...", "dir\\", "C:x.pdb", "x.pdb:stream",
    "CON", "nul.pdb", "Com1.pdb", "LPT9", "x" * 300 + ".pdb", "bad?.pdb", "trailing.pdb.",
])
def test_unsafe_names_are_refused_with_a_reason(name):
    base, reason = judge_name(name)
    assert base is None and reason


def test_ids_must_match_their_hex_spelling_exactly():
    assert is_debug_id_dir("3249D99D0C4049318610F4E4FB0B69361")
    assert is_debug_id_dir("ABCDEF011")  # NB10: signature + age
    assert not is_debug_id_dir("3249D99D0C4049318610F4E4FB0B6936")  # no age
    assert not is_debug_id_dir("../3249D99D0C4049318610F4E4FB0B69361")
    assert is_code_id("5AB380779000") and not is_code_id("5ab38077/9000")


def test_code_ids_are_respelled_canonically():
    assert normalize_code_id("5ab380779000") == "5AB380779000"
    assert normalize_code_id("589DFD111A000") == "589DFD111a000"
    assert normalize_code_id("..\\x") is None


def test_contained_accepts_single_components_inside_root(tmp_path):
    assert contained(tmp_path, "a.pdb", "ID", "a.pdb") == tmp_path / "a.pdb" / "ID" / "a.pdb"


@pytest.mark.parametrize("parts", [("..", "x"), ("a/../../x",), ("a\\b",), ("",), (".",)])
def test_contained_refuses_components_that_could_escape(tmp_path, parts):
    assert contained(tmp_path, *parts) is None


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_contained_refuses_a_symlink_that_points_out_of_root(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "evil").symlink_to(tmp_path)
    assert contained(root, "evil", "x") is None
