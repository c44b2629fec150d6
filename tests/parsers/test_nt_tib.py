"""NT_TIB/TEB/PEB and SEH layouts, on TEB memory captured in real x64 minidumps."""

from __future__ import annotations

import logging

import pytest

from conftest import corpus_path
from parsers.nt_tib import (
    EH3_EXCEPTION_REGISTRATION, EH4_SCOPETABLE, EH4_SCOPETABLE_N, EXCEPTION_CHAIN_END,
    EXCEPTION_REGISTRATION_RECORD,
    NT_TIB32, NT_TIB64, PEB32, PEB64, RTL_CRITICAL_SECTION32, RTL_CRITICAL_SECTION64, TEB32,
    TEB32_HEAD, TEB64, TEB64_HEAD,
)
from pe_roundtrip import assert_roundtrip

# Dumps whose ThreadList TEBs lie in captured memory (MANIFEST: Win10/11 x64).
TEB_DUMPS = ["breakpad/processor/tiny-exe-fastfail.dmp", "electron-node-minidump/windows.dmp"]


def _tebs(rel):
    """(thread id, TEB address, TEB64 bytes) read with the `minidump` package (independent)."""
    logging.disable(logging.CRITICAL)      # the package logs a PEB traceback on some dumps
    try:
        from minidump.minidumpfile import MinidumpFile
        md = MinidumpFile.parse(str(corpus_path(rel)))
    finally:
        logging.disable(logging.NOTSET)
    reader = md.get_reader()
    out = []
    for t in md.threads.threads:
        try:
            out.append((t.ThreadId, t.Teb, reader.read(t.Teb, TEB64.sizeof())))
        except Exception:  # noqa: BLE001 - a TEB outside captured memory
            continue
    return out


@pytest.mark.parametrize("rel", TEB_DUMPS)
def test_teb64_from_a_dump_names_its_own_thread(rel):
    tebs = _tebs(rel)
    assert tebs
    for tid, address, raw in tebs:
        teb = assert_roundtrip(TEB64, raw)
        assert teb.NtTib.Self == address
        assert teb.ClientId.UniqueThread == tid
        assert teb.NtTib.StackLimit < teb.NtTib.StackBase
        assert_roundtrip(TEB64_HEAD, raw[:TEB64_HEAD.sizeof()])
        assert_roundtrip(NT_TIB64, raw[:NT_TIB64.sizeof()])


def test_every_thread_of_a_process_points_at_one_peb():
    tebs = _tebs("breakpad/processor/tiny-exe-fastfail.dmp")
    assert len({TEB64.parse(raw).ProcessEnvironmentBlock for _, _, raw in tebs}) == 1


@pytest.mark.parametrize("con, size", [
    (NT_TIB32, 0x1C), (NT_TIB64, 0x38), (TEB32_HEAD, 0x3C), (TEB64_HEAD, 0x70),
    (TEB32, 0xE10 + 64 * 4), (TEB64, 0x1480 + 64 * 8), (PEB32, 0xB4), (PEB64, 0x128),
    (RTL_CRITICAL_SECTION32, 0x18), (RTL_CRITICAL_SECTION64, 0x28),
    (EXCEPTION_REGISTRATION_RECORD, 8), (EH3_EXCEPTION_REGISTRATION, 0x14),
])
def test_layout_sizes_match_the_headers(con, size):
    assert con.sizeof() == size


def test_peb_loader_lock_offsets():
    raw32 = bytearray(PEB32.sizeof())
    raw32[0xA0:0xA4] = (0x77F20160).to_bytes(4, "little")
    raw32[0x02] = 1
    peb = assert_roundtrip(PEB32, bytes(raw32))
    assert peb.LoaderLock == 0x77F20160 and peb.BeingDebugged == 1
    raw64 = bytearray(PEB64.sizeof())
    raw64[0x110:0x118] = (0x7FFB12345678).to_bytes(8, "little")
    raw64[0x118:0x11C] = (10).to_bytes(4, "little")
    peb = assert_roundtrip(PEB64, bytes(raw64))
    assert peb.LoaderLock == 0x7FFB12345678 and peb.OSMajorVersion == 10


def test_eh4_scope_table_reads_cookie_offsets_then_records():
    raw = b"".join(v.to_bytes(4, "little", signed=True)
                   for v in (-2, 0, -40, 0, -2, 0x401100, 0x401120, 0, 0, 0x401140))
    table = assert_roundtrip(EH4_SCOPETABLE, raw)
    assert table.GSCookieOffset == -2 and len(table.ScopeRecord) == 2
    assert table.ScopeRecord[0].EnclosingLevel == -2 and table.ScopeRecord[1].FilterFunc == 0
    assert_roundtrip(EH4_SCOPETABLE_N(2), raw)


def test_critical_section_lock_count_is_signed():
    raw = (0).to_bytes(4, "little") + (-1).to_bytes(4, "little", signed=True) + bytes(16)
    assert assert_roundtrip(RTL_CRITICAL_SECTION32, raw).LockCount == -1


# ---- x86: TEB32/PEB32/SEH chain/loader lock in a Wine full-memory dump of our own sample ----
@pytest.fixture(scope="module")
def wine_x86_target():
    from full_dumps import full_dump
    open_target = pytest.importorskip("toolkit.targets.open").open_target
    return open_target(full_dump("wine/dumps/crash-i686-nocrt-ext-full.dmp.xz"))


def test_teb32_peb32_and_loader_lock_read_from_x86_memory(wine_x86_target):
    target = wine_x86_target
    exe = next(m for m in target.modules() if m.name.lower() == "crash-i686-nocrt.exe")
    for thread in target.threads():
        teb = assert_roundtrip(TEB32, target.read(thread.teb, TEB32.sizeof()))
        assert teb.NtTib.Self == thread.teb and teb.ClientId.UniqueThread == thread.tid
        assert teb.ClientId.UniqueProcess == target.process_id
        peb = assert_roundtrip(PEB32, target.read(teb.ProcessEnvironmentBlock, PEB32.sizeof()))
        assert peb.ImageBaseAddress == exe.base
        lock = assert_roundtrip(RTL_CRITICAL_SECTION32, target.read(peb.LoaderLock, 0x18))
        assert lock.LockCount == -1 and lock.OwningThread == 0     # free when the crash hit


def test_x86_seh_chain_walks_to_the_end_marker(wine_x86_target):
    target = wine_x86_target
    thread = target.threads()[0]
    record = TEB32.parse(target.read(thread.teb, TEB32.sizeof())).NtTib.ExceptionList
    seen = 0
    while record != EXCEPTION_CHAIN_END and seen < 64:
        node = assert_roundtrip(EXCEPTION_REGISTRATION_RECORD, target.read(record, 8))
        assert thread.stack_start <= record < thread.stack_end or node.Next == EXCEPTION_CHAIN_END
        record, seen = node.Next, seen + 1
    assert record == EXCEPTION_CHAIN_END and seen >= 3     # SUMMARY.md: ntdll > seh_h3 > … > ntdll
