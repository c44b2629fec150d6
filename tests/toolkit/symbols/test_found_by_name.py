"""A module without a debug id whose binary is found only by name: its TimeDateStamp and
SizeOfImage must match the module's, else the names are refused (or, with --allow-mismatch,
marked mismatched), never "exact" from another build."""

from __future__ import annotations

import shutil

import pytest

from conftest import corpus_path
from toolkit.model.target import Module
from toolkit.symbols.location import SymbolStatus
from toolkit.symbols.resolver import Resolver, identity_of_image

pytest.importorskip("symbolic")


@pytest.fixture
def store(tmp_path):
    """crash.exe (and its PDB) stored under the name of the module we will ask for."""
    d = tmp_path / "store"
    d.mkdir()
    shutil.copy(corpus_path("symbolic/windows/crash.exe"), d / "app.exe")
    shutil.copy(corpus_path("symbolic/windows/crash.pdb"), d / "crash.pdb")
    return d


def module(timestamp: int, size_of_image: int) -> Module:
    return Module(base=0x400000, size=size_of_image, path="C:\\x\\app.exe",
                  timestamp=timestamp, size_of_image=size_of_image)


def image_code_id(store):
    from toolkit.targets.pe.image import PeImage
    image = PeImage.from_file(store / "app.exe")
    return image.timestamp, image.size_of_image


def test_a_binary_of_the_modules_build_gives_exact_names(store):
    ts, size = image_code_id(store)
    syms = Resolver.from_symbol_path(str(store)).symbols_for(module(ts, size))
    assert syms.status is SymbolStatus.EXACT and syms.kind == "pdb"


def test_a_binary_of_another_build_found_by_name_is_refused(store):
    ts, size = image_code_id(store)
    syms = Resolver.from_symbol_path(str(store)).symbols_for(module(ts + 1, size))
    assert syms.status is SymbolStatus.MISSING and not syms.has_symbols
    assert "found by name only" in syms.reason and "--allow-mismatch" in syms.reason


def test_with_allow_mismatch_its_names_are_marked_mismatched(store):
    ts, size = image_code_id(store)
    resolver = Resolver.from_symbol_path(str(store), allow_mismatch=True)
    syms = resolver.symbols_for(module(ts, size + 0x1000))
    assert syms.status is SymbolStatus.MISMATCHED and syms.has_symbols
    assert "code id" in syms.reason
    located = resolver.lookup(module(ts, size + 0x1000), 0x400000 + 0x1000)
    assert located.status is SymbolStatus.MISMATCHED
