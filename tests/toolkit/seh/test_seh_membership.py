"""SafeSEH membership through the judge path (judge_handler -> images -> rules) on real PE files,
against llvm-readobj's expected SEHTable lists and rizin's / pefile's readings of its samples.

The images are not in any dump here: a target that holds only the module list makes the image
facts come from the symbol path by code id (the images.py fallback), as for a minidump without
module memory.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import List

import pytest

from tests.conftest import corpus_path
from tests.toolkit.llvm_checks import check_tree, find
from tests.toolkit.seh.sehdump import pefile_handlers
from toolkit.model.errors import UnreadableMemory
from toolkit.targets.pe.image import PeImage
from toolkit.seh import judge_handler
from toolkit.seh.model import Outcome
from toolkit.model.target import Arch, Module

READOBJ = "llvm/tools/llvm-readobj/COFF"


class ModulesOnly:
    """A target that knows its modules and nothing else (no threads, no memory)."""

    arch, pointer_size = Arch.X86, 4

    def __init__(self, modules: List[Module]) -> None:
        self._modules = modules

    def modules(self):
        return list(self._modules)

    def module_at(self, address):
        return next((m for m in self._modules if m.contains(address)), None)

    def threads(self):
        return []

    def memory_info(self):
        return None

    def read(self, address, size):
        raise UnreadableMemory(address, size)

    def is_readable(self, address, size=1):
        return False


class LocatorResolver:
    """What Judge takes from a resolver when only image facts are wanted: its locator."""

    def __init__(self, directory: Path) -> None:
        from toolkit.symbols.locator import SymbolLocator
        from toolkit.symbols.symbol_path import SymbolPath
        self.locator = SymbolLocator(SymbolPath.parse(str(directory)))

    def lookup(self, module, address, lines=False):
        from toolkit.symbols.location import Location
        return Location(address, module.name, module.base, displacement=address - module.base)


def setup(rel: str, tmp_path: Path):
    src = corpus_path(rel)
    shutil.copy(src, tmp_path / src.name)
    image = PeImage.from_file(src)
    module = Module(image.image_base, image.size_of_image, f"C:\\x\\{src.name}",
                    timestamp=image.timestamp, size_of_image=image.size_of_image)
    return image, ModulesOnly([module]), LocatorResolver(tmp_path)


def judged(target, resolver, handler):
    return judge_handler(target, 0x0012FF00, handler, next_=0xFFFFFFFF, resolver=resolver)


@pytest.mark.parametrize("prefix, rel", [("X86", f"{READOBJ}/Inputs/coff-load-config-x86.dll"),
                                         ("DATAEND", f"{READOBJ}/Inputs/coff-load-config-data-end.exe")])
def test_llvm_readobj_seh_table_entries_are_listed_and_their_neighbours_are_not(prefix, rel,
                                                                                 tmp_path):
    tree = check_tree(corpus_path(f"{READOBJ}/load-config.test"), prefix)
    expected = [int(text, 16) for _, text in find(tree, "SEHTable")[0]]
    image, target, resolver = setup(rel, tmp_path)
    assert expected
    for va in expected:
        v = judged(target, resolver, va)
        assert v.verdict("SAFESEH_LISTED").outcome is Outcome.PASS, hex(va)
        assert "symbol path" in v.verdict("SAFESEH_LISTED").reason
        assert judged(target, resolver, va + 1).failing == ("SAFESEH_LISTED",)


@pytest.mark.parametrize("name", ["safeseh", "safeseh_fly"])
def test_rizin_safeseh_samples_accept_exactly_their_table(name, tmp_path):
    expected = corpus_path(f"rizin-testbins/expected/rizin-testdb/formats/pe/{name}.txt").read_text()
    assert "FILE=bins/pe/" in expected               # rizin's test opens it without complaint
    image, target, resolver = setup(f"rizin-testbins/pe/{name}.exe", tmp_path)
    table = pefile_handlers(corpus_path(f"rizin-testbins/pe/{name}.exe"))
    assert table
    for rva in table:
        assert judged(target, resolver, image.image_base + rva).failing == ()
    off_table = next(r for r in range(0x1000, image.size_of_image) if r not in table)
    assert judged(target, resolver, image.image_base + off_table).failing == ("SAFESEH_LISTED",)


@pytest.mark.parametrize("rel", ["rizin-testbins/pe/no_seh.exe",
                                 "lldb/unittests/SymbolFile/PDB/Inputs/test-pdb.exe"])
def test_no_seh_images_reject_every_handler(rel, tmp_path):
    image, target, resolver = setup(rel, tmp_path)
    v = judged(target, resolver, image.image_base + image.entry_point)
    assert v.failing == ("NO_SEH_IMAGE",)
    assert v.verdict("SAFESEH_LISTED").outcome is Outcome.NOT_APPLICABLE


def test_il_only_image_rejects_handlers(tmp_path):
    image, target, resolver = setup("symbolic/windows/integration.dll", tmp_path)
    v = judged(target, resolver, image.image_base + 0x2000)
    assert set(v.failing) == {"ILONLY_IMAGE", "NO_SEH_IMAGE"}


def test_image_neither_in_dump_nor_on_symbol_path_is_unverifiable_with_the_reason(tmp_path):
    image, target, resolver = setup(f"{READOBJ}/Inputs/coff-load-config-x86.dll", tmp_path)
    (tmp_path / "coff-load-config-x86.dll").unlink()
    v = judged(target, resolver, image.image_base + image.safeseh_handlers[0])
    out = v.verdict("SAFESEH_LISTED")
    assert out.outcome is Outcome.UNVERIFIABLE
    assert "not in the dump" in out.reason and "not on the symbol path" in out.reason
