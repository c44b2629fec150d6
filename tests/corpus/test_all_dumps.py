"""Every minidump in ../shared/corpus either opens and reports arch, OS, threads and modules, or
fails with one InputError subclass (non-Windows, kernel, malformed, fuzzed) — never another
exception. Where a peer printed what a dump holds, our values must match it:

* breakpad/processor/minidump2.dump.out (Breakpad minidump_dump): threads, contexts, modules,
  exception, system info;
* wine/SUMMARY.md (written when the Wine dumps were made): thread counts, exception code@address;
* the four Wine *-full.dmp.xz dumps, decompressed once per session: the exe's debug id read
  from the image in memory equals the CodeView record of the matching *-normal-cv dump.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List

import pytest
from full_dumps import full_dump

from tests.conftest import CORPUS, corpus_path
from toolkit.model.errors import DumpkitError, InputError, UnsupportedTarget
from toolkit.targets.open import open_target

NON_WINDOWS = {"breakpad/processor/linux_null_read_av.dmp", "breakpad/processor/linux_raise_sigabrt.dmp",
               "rust-minidump/testdata/linux-mini.dmp", "rust-minidump/testdata/simple-crashpad.dmp"}
KERNEL = {"rizin-testbins/dmp/triage_arm64.dmp", "rizin-testbins/dmp/triage_x64.dmp"}
MALFORMED = {"rust-minidump/testdata/invalid-range.dmp", "rust-minidump/testdata/invalid-record-count.dmp",
             "rizin-testbins/fuzzed/npe_r_mdmp.c-364_1.mdmp",
             "rizin-testbins/fuzzed/npe_w_bin_mdmp.c-111_1.mdmp"}
FULL_XZ = ["crash-i686-nocrt-ext-full", "crash-x86_64-nocrt-ext-full",
           "deadlock-i686-nocrt-ext-full", "deadlock-x86_64-nocrt-ext-full"]


def _corpus_dumps() -> List[str]:
    if not CORPUS.is_dir():
        return []
    found = [p for pattern in ("*.dmp", "*.mdmp", "*.dump") for p in CORPUS.rglob(pattern)]
    return sorted(str(p.relative_to(CORPUS)) for p in found)


DUMPS = _corpus_dumps()
WINDOWS = [d for d in DUMPS if d not in NON_WINDOWS | KERNEL | MALFORMED]


def test_the_corpus_classification_names_real_files():
    if not DUMPS:
        pytest.skip("../shared/corpus is not beside the repository")
    assert NON_WINDOWS | KERNEL | MALFORMED <= set(DUMPS)


@pytest.mark.parametrize("rel", WINDOWS)
def test_windows_dump_opens_and_reports(rel):
    t = open_target(corpus_path(rel))
    s = t.system_info()
    assert t.arch.value in ("x86", "amd64") and s.platform == "windows" and s.os_version
    threads, modules = t.threads(), t.modules()
    assert threads and modules
    assert any(th.registers is not None and th.registers.ip for th in threads)
    missing = {th.tid for th in threads if th.registers is None}
    reported = {p.message.split()[1] for p in t.problems if p.code == "thread.context_missing"}
    assert {f"{tid:#x}" for tid in missing} == reported   # a self-dump's writer thread only
    assert len(missing) <= 1
    assert all(m.size and m.path for m in modules)
    e = t.exception()
    if e is not None:
        assert e.thread_id in {th.tid for th in threads}
    t.handles(), t.unloaded_modules(), t.memory_info(), t.memory_regions()


@pytest.mark.parametrize("rel", sorted(NON_WINDOWS))
def test_non_windows_minidump_is_declined_in_one_line(rel):
    with pytest.raises(UnsupportedTarget) as info:
        open_target(corpus_path(rel))
    assert "\n" not in str(info.value) and "Windows processes only" in str(info.value)


@pytest.mark.parametrize("rel", sorted(KERNEL | MALFORMED))
def test_malformed_or_foreign_dump_gives_one_line_input_error(rel):
    with pytest.raises(InputError) as info:
        t = open_target(corpus_path(rel))
        t.threads(), t.modules(), t.exception(), t.handles(), t.memory_regions()
    assert "\n" not in str(info.value)


def test_byte_flipped_dumps_fail_only_with_dumpkit_errors():
    """300 deterministic corruptions of a real dump: each opens or fails with a DumpkitError."""
    import random
    data = bytearray(corpus_path("breakpad/processor/minidump2.dmp").read_bytes())
    rng = random.Random(1234)
    for _ in range(300):
        bad = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            at = rng.randrange(0, 0x600)         # header, directory and stream headers
            bad[at] = rng.randrange(256)
        try:
            from toolkit.targets.minidump.target import MinidumpTarget
            t = MinidumpTarget(bytes(bad))
            t.threads(), t.modules(), t.exception(), t.memory_regions(), t.misc_info()
        except DumpkitError:
            pass


# ---- Breakpad minidump_dump oracle ----------------------------------------------------------

def _blocks(text: str, title: str) -> List[Dict[str, str]]:
    out = []
    for chunk in text.split("\n\n"):
        lines = chunk.strip("\n").splitlines()
        heads = [i for i, line in enumerate(lines[:2]) if line.strip() == title]
        if heads:                                # "module[3]" may precede the title
            fields = {}
            for line in lines[heads[0] + 1:]:
                if "=" in line:
                    k, v = line.split("=", 1)
                    fields[k.strip()] = v.strip()
            out.append(fields)
    return out


@pytest.fixture(scope="module")
def breakpad_out():
    return corpus_path("breakpad/processor/minidump2.dump.out").read_text()


@pytest.fixture(scope="module")
def minidump2():
    return open_target(corpus_path("breakpad/processor/minidump2.dmp"))


def test_threads_and_contexts_match_minidump_dump(breakpad_out, minidump2):
    raw_threads = _blocks(breakpad_out, "MDRawThread")
    contexts = _blocks(breakpad_out, "MDRawContextX86")
    ours = minidump2.threads()
    assert len(ours) == len(raw_threads) == 2
    for th, raw, ctx in zip(ours, raw_threads, contexts):     # thread contexts come first
        assert th.tid == int(raw["thread_id"], 16) and th.teb == int(raw["teb"], 16)
        assert th.stack_start == int(raw["stack.start_of_memory_range"], 16)
        for reg in ("eip", "esp", "ebp", "eax", "ebx", "ecx", "edx", "esi", "edi"):
            assert th.registers.values[reg] == int(ctx[reg], 16), reg
        assert th.registers.values["efl"] == int(ctx["eflags"], 16)


def test_modules_match_minidump_dump(breakpad_out, minidump2):
    raw = _blocks(breakpad_out, "MDRawModule")
    ours = minidump2.modules()
    assert len(ours) == len(raw) == 13
    for m, r in zip(ours, raw):
        assert m.base == int(r["base_of_image"], 16) and m.size == int(r["size_of_image"], 16)
        assert m.checksum == int(r["checksum"], 16)
        assert m.path == r["(code_file)"].strip('"')
        assert m.code_id.upper() == r["(code_identifier)"].strip('"').upper()
        assert str(m.debug_id) == r["(debug_identifier)"].strip('"')
        assert m.pdb_name == r["(debug_file)"].strip('"')


def test_exception_and_system_info_match_minidump_dump(breakpad_out, minidump2):
    (exc,) = _blocks(breakpad_out, "MDException")
    e = minidump2.exception()
    assert e.thread_id == int(exc["thread_id"], 16)
    assert e.code == int(exc["exception_record.exception_code"], 16)
    assert e.address == int(exc["exception_record.exception_address"], 16)
    assert len(e.parameters) == int(exc["exception_record.number_parameters"])
    ctx = _blocks(breakpad_out, "MDRawContextX86")[-1]
    assert e.registers.ip == int(ctx["eip"], 16)
    (si,) = _blocks(breakpad_out, "MDRawSystemInfo")
    s = minidump2.system_info()
    assert s.os_build == int(si["build_number"]) and s.csd_version == si["(csd_version)"].strip('"')
    assert s.cpu_vendor == si["(cpu_vendor)"].strip('"')


# ---- Wine SUMMARY.md oracle -----------------------------------------------------------------

def _wine_summary() -> Dict[str, Dict[str, str]]:
    path = CORPUS / "wine" / "SUMMARY.md"
    if not path.exists():
        return {}
    rows = {}
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 5 and re.match(r"(crash|deadlock)-", cells[0]):
            rows[cells[0]] = {"threads": cells[3], "exception": cells[4]}
    return rows


WINE = _wine_summary()
WINE_PRESENT = [name for name in WINE if (CORPUS / "wine" / "dumps" / f"{name}.dmp").exists()]


@pytest.mark.parametrize("name", WINE_PRESENT)
def test_wine_dump_matches_summary(name):
    t = open_target(corpus_path(f"wine/dumps/{name}.dmp"))
    row = WINE[name]
    assert len(t.threads()) == int(row["threads"])
    e = t.exception()
    if row["exception"] == "-":
        assert e is None
    else:
        code, address = row["exception"].split("@")
        assert (e.code, e.address) == (int(code, 16), int(address, 16))


@pytest.fixture(scope="session")
def full_dumps() -> Dict[str, Path]:
    """The four Wine full dumps by name, each decompressed once per session."""
    return {name: full_dump(f"wine/dumps/{name}.dmp.xz") for name in FULL_XZ}


@pytest.mark.parametrize("name", FULL_XZ)
def test_wine_full_dump_debug_id_comes_from_the_image(name, full_dumps):
    t = open_target(full_dumps[name])
    assert t.memory_regions() and len(t.threads()) == int(WINE[name]["threads"])
    exe = t.modules()[0]
    assert exe.cv_record is None and exe.debug_id_source == "image"
    cv = open_target(corpus_path(f"wine/dumps/{name.replace('-full', '-normal-cv')}.dmp"))
    assert exe.debug_id == cv.modules()[0].debug_id
    assert t.is_readable(t.threads()[0].registers.sp, t.pointer_size)
