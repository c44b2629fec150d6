"""PeImage on real PEs: identities against Breakpad .sym files, directories against
llvm-readobj's expected output, SafeSEH against rizin's and pefile's readings, the mapped
layout against pefile's own mapping, and malformed inputs."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pefile
import pytest
from conftest import corpus_path
from full_dumps import full_dump
from llvm_checks import check_tree, find, leaf_dict, number

from toolkit.model.errors import DumpkitError, UnreadableMemory
from toolkit.targets.pe.image import PeImage, image_in_target
from toolkit.model.target import Module

READOBJ = "llvm/tools/llvm-readobj/COFF"

# PE -> the Breakpad .sym dump_syms wrote for it (MODULE id = PDB GUID+age, INFO CODE_ID).
SYM_PAIRS = [
    ("mozilla-dump_syms/windows/basic32.dll", "mozilla-dump_syms/windows/basic32.sym"),
    ("mozilla-dump_syms/windows/basic32-min.dll", "mozilla-dump_syms/windows/basic32-min.sym"),
    ("mozilla-dump_syms/windows/basic-opt32.dll", "mozilla-dump_syms/windows/basic-opt32.sym"),
    ("mozilla-dump_syms/windows/basic64.dll", "mozilla-dump_syms/windows/basic64.sym"),
    ("mozilla-dump_syms/windows/basic-opt64.dll", "mozilla-dump_syms/windows/basic-opt64.sym"),
    ("mozilla-dump_syms/windows/mozwer.dll", "mozilla-dump_syms/windows/mozwer.sym"),
    ("mozilla-dump_syms/windows/basic32-dwarf.dll", "mozilla-dump_syms/windows/basic32-dwarf.sym"),
    ("breakpad/dump_syms/dump_syms_regtest64.exe", "breakpad/dump_syms/dump_syms_regtest64.sym"),
    ("breakpad/dump_syms/pe_only_symbol_test.dll", "breakpad/dump_syms/pe_only_symbol_test.sym"),
    ("symbolic/windows/crash.exe", "symbolic/windows/crash.sym"),
]


def _sym_header(path: Path):
    text = path.read_text(errors="replace").splitlines()[:5]
    module = next(line.split() for line in text if line.startswith("MODULE "))
    code = next((line.split()[2] for line in text if line.startswith("INFO CODE_ID ")), None)
    return module[3], module[4], code


@pytest.mark.parametrize("pe_rel, sym_rel", SYM_PAIRS)
def test_debug_id_equals_the_breakpad_module_line(pe_rel, sym_rel):
    image = PeImage.from_file(corpus_path(pe_rel))
    sym_id, sym_name, sym_code = _sym_header(corpus_path(sym_rel))
    if set(sym_id) == {"0"}:                 # dump_syms found no CodeView record
        assert image.debug_id is None
    else:
        assert str(image.debug_id) == sym_id
        assert re.split(r"[\\/]", image.pdb_name)[-1].lower() == sym_name.lower()
    if sym_code:
        assert image.code_id.lower() == sym_code.lower()


def test_identity_matches_symbolic_snapshot_facts():
    # EXPECTED_FROM_SOURCE.md: crash.exe code_id 5ab380779000, debug_id 3249d99d-...-1, x86.
    image = PeImage.from_file(corpus_path("symbolic/windows/crash.exe"))
    assert image.code_id.lower() == "5ab380779000"
    assert image.debug_id.dashed == "3249d99d-0c40-4931-8610-f4e4fb0b6936-1"
    assert image.arch.value == "x86" and image.image_base == 0x400000


# ---- llvm-readobj --coff-debug-directory ---------------------------------------------------
def _readobj_entries(test_rel):
    tree = check_tree(corpus_path(test_rel))
    directory = find(tree, "DebugDirectory")
    return find(directory[0], "DebugEntry") if directory else find(tree, "DebugEntry")


@pytest.mark.parametrize("test_rel, pe_rel", [
    (f"{READOBJ}/debug-directory.test", f"{READOBJ}/Inputs/has_pdb.exe"),
    (f"{READOBJ}/cetcompat.test", f"{READOBJ}/Inputs/has-cet.exe"),
])
def test_debug_directory_fields_match_llvm_readobj(test_rel, pe_rel):
    image = PeImage.from_file(corpus_path(pe_rel))
    expected = _readobj_entries(test_rel)
    assert expected
    for children in expected:
        leaves = leaf_dict(children)
        matches = [e for e in image.debug_entries if e.type_value == number(leaves["Type"])]
        assert matches, leaves["Type"]
        entry = matches[0]
        names = {"Characteristics": entry.characteristics, "TimeDateStamp": entry.timestamp,
                 "MajorVersion": entry.major_version, "MinorVersion": entry.minor_version,
                 "SizeOfData": entry.size_of_data, "AddressOfRawData": entry.address_of_raw_data,
                 "PointerToRawData": entry.pointer_to_raw_data}
        for key, value in leaves.items():
            if key in names:
                assert names[key] == number(value), key
        for pdb in find(children, "PDBInfo"):
            info = leaf_dict(pdb)
            cv = entry.codeview
            assert int.from_bytes(entry.data[:4], "little") == number(info["PDBSignature"])
            assert cv.debug_id.guid == uuid.UUID(info["PDBGUID"])
            assert cv.debug_id.age == int(info["PDBAge"])
            assert cv.pdb_name == info["PDBFileName"]
        for raw in find(children, "RawData"):
            hexdump = "".join("".join(t.split("|")[0].split()[1:]) for _, t in raw)
            assert entry.data.hex().upper() == hexdump
        for ext in find(children, "ExtendedCharacteristics"):
            assert entry.decoded["value"] == hex(number(leaf_dict(ext)["_value"]))
            want = {t.split()[0].split("EX_", 1)[1] for k, t in ext if k is None}
            assert {n.split("EX_", 1)[1] for n in entry.decoded["flags"]} == want


# ---- llvm-readobj --coff-load-config ------------------------------------------------------
RENAMED = {"GuardCFCheckFunction": "GuardCFCheckFunctionPointer",
           "GuardCFCheckDispatch": "GuardCFDispatchFunctionPointer"}


@pytest.mark.parametrize("prefix, pe_rel", [
    ("X86", f"{READOBJ}/Inputs/coff-load-config-x86.dll"),
    ("X64", f"{READOBJ}/Inputs/coff-load-config-x64.dll"),
])
def test_load_config_fields_match_llvm_readobj(prefix, pe_rel):
    image = PeImage.from_file(corpus_path(pe_rel))
    tree = check_tree(corpus_path(f"{READOBJ}/load-config.test"), prefix)
    lc = find(tree, "LoadConfig")[0]
    for key, value in leaf_dict(lc).items():
        if key == "Size":
            assert image.load_config.size == number(value)
        elif key == "SEHandlerTable" and image.arch.pointer_size == 8:
            assert (image.load_config.get(key) or 0) == number(value)
        else:
            assert image.load_config.get(RENAMED.get(key, key)) == number(value), key
    flags = find(lc, "GuardFlags")[0]
    assert image.load_config.guard_flags == number(leaf_dict(flags)["_value"])
    assert sorted(n[len("IMAGE_GUARD_"):] for n in image.load_config.guard_flag_names) == \
        sorted(t.split()[0] for k, t in flags if k is None)


@pytest.mark.parametrize("prefix, pe_rel", [
    ("X86", f"{READOBJ}/Inputs/coff-load-config-x86.dll"),
    ("DATAEND", f"{READOBJ}/Inputs/coff-load-config-data-end.exe"),
])
def test_safeseh_table_matches_llvm_readobj(prefix, pe_rel):
    image = PeImage.from_file(corpus_path(pe_rel))
    tree = check_tree(corpus_path(f"{READOBJ}/load-config.test"), prefix)
    expected = [int(t, 16) for _, t in find(tree, "SEHTable")[0]]
    assert [image.image_base + r for r in image.safeseh_handlers] == expected
    for va in expected:
        assert image.safeseh_contains(va - image.image_base)
        assert not image.safeseh_contains(va - image.image_base + 1)


def test_no_load_config_means_none_as_llvm_readobj_prints_nothing():
    text = corpus_path(f"{READOBJ}/load-config.test").read_text()
    assert "NOCONFIG-NOT: LoadConfig" in text
    image = PeImage.from_file(corpus_path(f"{READOBJ}/Inputs/coff-no-load-config.exe"))
    assert image.load_config is None and image.safeseh_handlers == ()


# ---- rizin formats/pe: safeseh, safeseh_fly, no_seh open cleanly (empty EXPECT) -------------
@pytest.mark.parametrize("name", ["safeseh", "safeseh_fly", "no_seh"])
def test_rizin_seh_samples_open_without_complaint(name):
    expected = corpus_path(f"rizin-testbins/expected/rizin-testdb/formats/pe/{name}.txt").read_text()
    exe = re.search(r"^FILE=bins/(\S+)$", expected, re.M).group(1)
    assert re.search(r"EXPECT=<<EOF\nEOF", expected)       # rizin prints nothing: no error
    path = corpus_path(f"rizin-testbins/{exe}")
    image = PeImage.from_file(path)
    assert image.problems == ()
    ref = pefile.PE(str(path))
    lc = getattr(ref, "DIRECTORY_ENTRY_LOAD_CONFIG", None)
    if name == "no_seh":
        assert image.no_seh and "NO_SEH" in image.dll_characteristic_names
        assert image.load_config is None and lc is None
    else:
        assert not image.no_seh
        s = lc.struct
        table = ref.get_data(s.SEHandlerTable - ref.OPTIONAL_HEADER.ImageBase, 4 * s.SEHandlerCount)
        want = sorted(int.from_bytes(table[i:i + 4], "little") for i in range(0, len(table), 4))
        assert list(image.safeseh_handlers) == want and want


def test_il_only_image_is_flagged():
    image = PeImage.from_file(corpus_path("symbolic/windows/integration.dll"))
    assert image.il_only and image.no_seh


def test_pdata_availability_follows_the_exception_directory():
    assert PeImage.from_file(corpus_path("symbolic/windows/CrashWithException.exe")).has_pdata
    assert not PeImage.from_file(corpus_path("symbolic/windows/crash.exe")).has_pdata


def test_exports_match_pefile():
    path = corpus_path(f"{READOBJ}/Inputs/export-x86.dll")
    ref = pefile.PE(str(path))
    want = [(s.ordinal, s.name.decode() if s.name else None, s.address)
            for s in ref.DIRECTORY_ENTRY_EXPORT.symbols]
    got = [(e.ordinal, e.name, e.rva) for e in PeImage.from_file(path).exports()]
    assert got == want and got


# ---- mapped layout: a Target that holds the image as the loader mapped it -------------------
class MappedTarget:
    """The smallest Target for PeImage.from_target: bytes at a base, everything else unreadable."""

    def __init__(self, base: int, image: bytes) -> None:
        self.base, self.image = base, image

    def read(self, address: int, size: int) -> bytes:
        off = address - self.base
        if off < 0 or off + size > len(self.image):
            raise UnreadableMemory(address, size)
        return self.image[off:off + size]


MAPPED_PES = ["symbolic/windows/crash.exe", f"{READOBJ}/Inputs/coff-load-config-x86.dll",
              f"{READOBJ}/Inputs/has-cet.exe", "mozilla-dump_syms/windows/basic64.dll",
              f"{READOBJ}/Inputs/export-x86.dll"]


@pytest.mark.parametrize("rel", MAPPED_PES)
def test_mapped_image_reads_like_the_file(rel):
    path = corpus_path(rel)
    ref = pefile.PE(str(path))
    mapped = ref.get_memory_mapped_image()        # pefile's own file -> memory mapping
    base = ref.OPTIONAL_HEADER.ImageBase
    module = Module(base=base, size=len(mapped), path=str(path))
    from_file = PeImage.from_file(path)
    from_mem = PeImage.from_target(MappedTarget(base, mapped), module)
    assert from_mem.layout == "mapped"
    assert from_mem.debug_id == from_file.debug_id and from_mem.code_id == from_file.code_id
    assert from_mem.safeseh_handlers == from_file.safeseh_handlers
    assert [e.data for e in from_mem.debug_entries if e.address_of_raw_data] == \
        [e.data for e in from_file.debug_entries if e.address_of_raw_data]
    assert (from_mem.load_config and from_mem.load_config.fields) == \
        (from_file.load_config and from_file.load_config.fields)
    assert [(e.ordinal, e.name, e.rva) for e in from_mem.exports()] == \
        [(e.ordinal, e.name, e.rva) for e in from_file.exports()]


def test_image_absent_from_the_dump_is_none():
    module = Module(base=0x10000000, size=0x5000, path="absent.dll")
    assert image_in_target(MappedTarget(0x400000, b"MZ"), module) is None
    with pytest.raises(UnreadableMemory):
        PeImage.from_target(MappedTarget(0x400000, b"MZ"), module)


def test_headers_present_but_directories_missing_become_problems():
    path = corpus_path("symbolic/windows/crash.exe")
    ref = pefile.PE(str(path))
    mapped = ref.get_memory_mapped_image()[:0x1000]          # header page only
    module = Module(base=0x400000, size=0x9000, path="crash.exe")
    image = PeImage.from_target(MappedTarget(0x400000, mapped), module)
    assert image.debug_id is None and image.problems
    assert {p.code for p in image.problems} <= {"pe-debug-directory", "pe-load-config"}


# ---- the image inside a real dump (Wine full-memory dump of our own sample) ------------------
@pytest.fixture(scope="module")
def wine_full_dump():
    return full_dump("wine/dumps/crash-i686-nocrt-ext-full.dmp.xz")


def test_image_in_a_full_dump_matches_the_exe(wine_full_dump):
    open_target = pytest.importorskip("toolkit.targets.open").open_target
    target = open_target(wine_full_dump)
    module = next(m for m in target.modules() if m.name.lower() == "crash-i686-nocrt.exe")
    image = PeImage.from_target(target, module)
    exe = PeImage.from_file(corpus_path("wine/bin/crash-i686-nocrt.exe"))
    assert image.debug_id == exe.debug_id is not None
    assert image.code_id == exe.code_id
    assert image.safeseh_handlers == exe.safeseh_handlers


# ---- malformed input ----------------------------------------------------------------------
@pytest.mark.parametrize("rel", ["symbolic/windows/crash.exe", f"{READOBJ}/Inputs/has-cet.exe",
                                 "rizin-testbins/pe/safeseh.exe"])
def test_truncated_pes_fail_with_dumpkit_errors_or_problems(rel):
    data = corpus_path(rel).read_bytes()
    cuts = [0, 1, 2, 0x3C, 0x40, 0x80, 0x100, 0x180, 0x200, 0x300, 0x400, len(data) // 2,
            len(data) - 1]
    for cut in cuts:
        try:
            image = PeImage.from_bytes(data[:cut], "cut.exe")
        except DumpkitError as exc:
            assert "\n" not in str(exc)
            continue
        image.to_json()                       # whatever survived renders


def test_not_a_pe_is_an_input_error():
    with pytest.raises(DumpkitError, match="not a PE"):
        PeImage.from_bytes(b"\x7fELF" + bytes(100), "elf")


def test_unaligned_safeseh_table_from_lld_is_read_at_its_exact_rva():
    path = corpus_path("wine/bin/crash-i686-nocrt.exe")       # built by samples/ with lld-link
    image = PeImage.from_file(path)
    table_rva = image.load_config.get("SEHandlerTable") - image.image_base
    assert table_rva % 4 != 0
    ref = pefile.PE(str(path))
    raw = ref.get_data(table_rva, 4 * image.load_config.get("SEHandlerCount"))
    want = sorted(int.from_bytes(raw[i:i + 4], "little") for i in range(0, len(raw), 4))
    assert list(image.safeseh_handlers) == want and len(want) == 3
