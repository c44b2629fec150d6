"""A dump whose MemoryList maps 4096 address ranges onto the same 64 KiB of the file (issue 12):
the thread's stack claims 256 MiB, but ``scan`` works per byte of file and says where it cut."""

from __future__ import annotations

import json
import struct

from parsers.context import AMD64_CONTEXT
from parsers.minidump_threads import MINIDUMP_THREAD
from tests.hostile.hostile_inputs import run_dumpkit
from tests.toolkit.minidump_builder import build_minidump, system_info
from parsers.minidump_modules import MINIDUMP_MODULE
from tests.toolkit.minidump_builder import minidump_string
from toolkit.stackwalk.scan import MAX_HITS_PER_REGION, scan_threads
from toolkit.targets.open import open_target

STACK, CHUNK, ALIASES = 0x10000000, 0x10000, 4096
CODE = 0x77C41005                     # inside the module below; every slot points at it


def aliased_dump() -> bytes:
    def memory(rva: int) -> bytes:
        data_at = rva + 4 + ALIASES * 16
        table = b"".join(struct.pack("<QII", STACK + i * CHUNK, CHUNK, data_at)
                         for i in range(ALIASES))
        return struct.pack("<I", ALIASES) + table + struct.pack("<Q", CODE) * (CHUNK // 8)

    def threads(rva: int) -> bytes:
        ctx = bytearray(AMD64_CONTEXT.sizeof())
        struct.pack_into("<I", ctx, 0x30, 0x10003F)
        struct.pack_into("<Q", ctx, 0x98, STACK)                  # Rsp: the stack's low end
        struct.pack_into("<Q", ctx, 0xF8, CODE)                   # Rip
        return struct.pack("<I", 1) + MINIDUMP_THREAD.build(dict(
            ThreadId=0x1F0, SuspendCount=0, PriorityClass=0x20, Priority=0, Teb=0,
            Stack=dict(StartOfMemoryRange=STACK, Memory=dict(DataSize=ALIASES * CHUNK,
                                                             Rva=0)),
            ThreadContext=dict(DataSize=len(ctx), Rva=rva + 4 + 48))) + bytes(ctx)

    def modules(rva: int) -> bytes:
        entry = MINIDUMP_MODULE.build(dict(
            BaseOfImage=0x77C40000, SizeOfImage=0x8000, CheckSum=0, TimeDateStamp=0,
            ModuleNameRva=rva + 4 + 108, VersionInfo=dict(
                dwSignature=0, dwStrucVersion=0, dwFileVersionMS=0, dwFileVersionLS=0,
                dwProductVersionMS=0, dwProductVersionLS=0, dwFileFlagsMask=0, dwFileFlags={},
                dwFileOS=0, dwFileType=0, dwFileSubtype=0, dwFileDateMS=0, dwFileDateLS=0),
            CvRecord=dict(DataSize=0, Rva=0), MiscRecord=dict(DataSize=0, Rva=0),
            Reserved0=0, Reserved1=0))
        return struct.pack("<I", 1) + entry + minidump_string("C:\\app\\app.dll")

    return build_minidump([(7, system_info()), (3, threads), (4, modules), (5, memory)])


def test_scan_reads_no_more_stack_bytes_than_the_file_holds(tmp_path):
    path = tmp_path / "aliased.dmp"
    path.write_bytes(aliased_dump())
    report = scan_threads(open_target(path), symbolize=False)
    (region,) = report.regions
    assert region.slots * 8 <= path.stat().st_size
    assert len(region.hits) <= MAX_HITS_PER_REGION
    assert "scan.bounded" in [p.code for p in region.problems]


def test_scan_command_says_it_cut_the_aliased_stack(tmp_path):
    path = tmp_path / "aliased.dmp"
    path.write_bytes(aliased_dump())
    out = run_dumpkit("scan", "--json", str(path))
    assert out.returncode == 0, out.stderr[-2000:]
    (region,) = json.loads(out.stdout)["regions"]
    assert [p for p in region["problems"] if p["code"] == "scan.bounded"]
