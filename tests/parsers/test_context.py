"""CPU contexts: x86 and AMD64 records from real dumps parse, build back, and give the register
values Breakpad's minidump_dump printed; ARM64 is checked on bytes packed independently."""

from __future__ import annotations

import struct

import pytest

from parsers.context import (AMD64_CONTEXT, ARM64_NT_CONTEXT, CONTEXT_X86, context_kind,
                             registers_of)
from toolkit.targets.minidump.file import MinidumpFile
from tests.conftest import corpus_path


def roundtrip(layout, data: bytes):
    parsed = layout.parse(data)
    assert layout.build(parsed) == data
    return parsed


def test_x86_exception_context_matches_minidump_dump():
    data = corpus_path("breakpad/processor/minidump2.dmp").read_bytes()[0xAC8:0xAC8 + 716]
    ctx = roundtrip(CONTEXT_X86, data)
    regs = registers_of("x86", ctx)
    assert ctx.ContextFlags == 0x1003F
    assert (regs["eip"], regs["esp"], regs["ebp"], regs["eax"]) == (0x40429E, 0x12FE84, 0x12FE88, 0x45)
    assert (regs["efl"], regs["cs"], regs["fs"], regs["ss"]) == (0x10246, 0x1B, 0x3B, 0x23)
    assert ctx.FloatSave.ControlWord == 0xFFFF027F


def test_amd64_context_roundtrips_and_names_registers():
    with MinidumpFile(corpus_path("breakpad/processor/tiny-exe-fastfail.dmp")) as f:
        stream = bytes(f.stream(6))
        rva = int.from_bytes(stream[0xA4:0xA8], "little")
        size = int.from_bytes(stream[0xA0:0xA4], "little")
        data = bytes(f.slice(rva, 1232, 6, "context"))
    assert size >= 1232
    ctx = roundtrip(AMD64_CONTEXT, data)
    regs = registers_of("amd64", ctx)
    assert ctx.ContextFlags & 0x100000
    assert regs["rip"] == 0x7FF75355AF42           # the exception address in MANIFEST.md
    assert set(regs) >= {"rax", "rsp", "rbp", "r8", "r15", "efl", "cs", "ss"}


def test_xstate_context_decodes_its_fixed_prefix():
    with MinidumpFile(corpus_path("breakpad/processor/tiny-exe-with-cet-xsave.dmp")) as f:
        threads = bytes(f.stream(3))
        size = int.from_bytes(threads[4 + 0x28:4 + 0x2C], "little")
        rva = int.from_bytes(threads[4 + 0x2C:4 + 0x30], "little")
        head = bytes(f.slice(rva, 4, 3, "context"))
    assert size > 1232
    assert context_kind("amd64", size, head) == "amd64"


def test_arm64_context_from_independently_packed_bytes():
    x = list(range(0x1000, 0x1000 + 29))
    raw = struct.pack("<II29QQQQQ", 0x400003, 0x60000000, *x, 0xF0F0, 0x1111, 0x2222, 0x3333)
    raw += bytes(512) + struct.pack("<II", 7, 8) + bytes(32 + 64 + 8 + 16)
    assert len(raw) == 0x390
    regs = registers_of("arm64", roundtrip(ARM64_NT_CONTEXT, raw))
    assert (regs["x0"], regs["x28"], regs["fp"], regs["lr"], regs["sp"], regs["pc"]) == \
        (0x1000, 0x1000 + 28, 0xF0F0, 0x1111, 0x2222, 0x3333)
    assert regs["cpsr"] == 0x60000000 and regs["fpcr"] == 7


@pytest.mark.parametrize("arch,size,flags,kind", [
    ("x86", 716, 0x1003F, "x86"), ("x86", 700, 0x1003F, None),
    ("amd64", 1232, 0x10003F, "amd64"), ("amd64", 716, 0x1003F, "x86"),
    ("amd64", 716, 0, None), ("arm64", 0x390, 0x400003, "arm64"), ("arm", 0x1A0, 0, None),
])
def test_context_kind_by_arch_size_and_flags(arch, size, flags, kind):
    assert context_kind(arch, size, flags.to_bytes(4, "little")) == kind
