"""The table-driven call-site check against capstone on the .text of corpus x86 and x64 PEs."""

from __future__ import annotations

import capstone
import numpy as np
import pefile
import pytest

from tests.conftest import corpus_path
from toolkit.model.errors import UnreadableMemory
from toolkit.model.target import Arch
from toolkit.unwind.callsite import (call_before, call_length_at, call_length_before_end,
                                     call_length_mask, is_return_address)

IMAGES = [("symbolic/windows/crash.exe", Arch.X86),
          ("mozilla-dump_syms/windows/basic32.dll", Arch.X86),
          ("breakpad/dump_syms/dump_syms_regtest64.exe", Arch.AMD64),
          ("mozilla-dump_syms/windows/basic64.dll", Arch.AMD64)]
PREFIXES = set(range(0x40, 0x50)) | {0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x66, 0x67, 0xF2, 0xF3}
SAMPLE = 1 << 17          # first 128 KiB of .text keeps the suite fast


def _cs(arch):
    return capstone.Cs(capstone.CS_ARCH_X86,
                       capstone.CS_MODE_64 if arch is Arch.AMD64 else capstone.CS_MODE_32)


def _text(rel):
    pe = pefile.PE(str(corpus_path(rel)), fast_load=True)
    section = next(s for s in pe.sections if s.Characteristics & 0x20000000)
    return section.get_data()[:SAMPLE]


def _linear(code, arch):
    """(address, size, mnemonic) of a linear sweep that skips a byte after undecodable data."""
    md, pos, out = _cs(arch), 0, []
    while pos < len(code):
        last = pos
        for address, size, mnemonic, _ in md.disasm_lite(code[pos:], pos):
            out.append((address, size, mnemonic))
            last = address + size
        pos = last + 1 if last == pos or last < len(code) else last
    return out


def _oracle(md, code, offset):
    """Does some k in 1..7 decode code[offset-k:offset] as exactly one CALL?

    Near calls count, and the direct far call 9A (x86). The indirect far call FF /3 does not
    (capstone names it "call" too): it pushes CS:EIP, and user-mode code does not use it.
    """
    for k in range(1, 8):
        if offset - k < 0:
            break
        window = code[offset - k:offset]
        insns = list(md.disasm_lite(window, 0))
        if len(insns) != 1 or insns[0][1] != k or insns[0][2] not in ("call", "lcall"):
            continue
        body = bytes(window).lstrip(bytes(PREFIXES))
        if body[:1] == b"\xff" and len(body) > 1 and (body[1] >> 3) & 7 == 3:
            continue
        return True
    return False


@pytest.mark.parametrize("rel,arch", IMAGES)
def test_every_return_address_of_a_decoded_call_is_verified(rel, arch):
    code = _text(rel)
    calls = [(a + s, s, a) for a, s, m in _linear(code, arch) if m == "call"]
    assert len(calls) > 100
    lengths = call_length_mask(code, np.array([end for end, _, _ in calls]), arch)
    for (end, size, start), found in zip(calls, lengths.tolist()):
        assert found > 0, f"call at {start:#x} not recognised"
        # A shorter match is the same CALL without its prefixes (41 FF D0 = call r8).
        assert all(b in PREFIXES for b in code[start:end - found]), hex(start)


@pytest.mark.parametrize("rel,arch", IMAGES)
def test_table_agrees_with_capstone_on_random_offsets(rel, arch):
    code = _text(rel)
    md = _cs(arch)
    offsets = np.random.default_rng(7).integers(8, len(code), size=1500)
    table = call_length_mask(code, offsets, arch) > 0
    disagreements = [int(o) for o, t in zip(offsets, table) if t != _oracle(md, code, int(o))]
    # Expected exceptions: 16-bit "66 E8 rel16" (x86), which the table leaves out on purpose.
    unexplained = [o for o in disagreements if code[o - 4] != 0x66]
    assert unexplained == []


@pytest.mark.parametrize("rel,arch", IMAGES)
def test_false_positive_rate_at_non_call_instruction_boundaries_is_low(rel, arch):
    code = _text(rel)
    insns = _linear(code, arch)
    after_call = {a + s for a, s, m in insns if m == "call"}
    others = np.array([a + s for a, s, _ in insns if a + s not in after_call])
    rate = float(call_length_mask(code, others, arch).astype(bool).mean())
    assert rate < 0.01, rate


def test_encodings_from_the_manual():
    x64 = [bytes.fromhex(h) for h in (
        "e800000000", "ffd0", "41ffd0", "ff10", "ff1424", "ff142500000000", "ff1500000000",
        "48ff1500000000", "ff5008", "ff542408", "ff9000010000", "ff942400010000")]
    for code in x64:
        assert call_before(code, len(code), Arch.AMD64), code.hex()
        assert _oracle(_cs(Arch.AMD64), code, len(code)), code.hex()
    assert call_before(bytes.fromhex("9a000000001b00"), 7, Arch.X86) == 7
    assert call_before(bytes.fromhex("9a000000001b00"), 7, Arch.AMD64) is None
    for not_a_call in ("ffe0", "ff20", "c3", "0000000000", "ff18"):   # jmp, jmp [m], ret, far
        code = bytes.fromhex(not_a_call)
        assert call_before(code, len(code), Arch.AMD64) is None, not_a_call


def test_offsets_near_the_buffer_start_match_nothing_instead_of_wrapping():
    code = bytes.fromhex("ffd0") + bytes(10)
    assert call_length_mask(code, np.array([0, 1, 2]), Arch.X86).tolist() == [0, 0, 2]


def test_target_reader_form_checks_bytes_before_the_address():
    code = {0x1000 + k: b for k, b in enumerate(bytes.fromhex("90909090e800000000c3"))}

    def read(address, size):
        if any(a not in code for a in range(address, address + size)):
            raise UnreadableMemory(address, size)
        return bytes(code[a] for a in range(address, address + size))

    assert is_return_address(read, 0x1009, Arch.X86)
    assert not is_return_address(read, 0x100A, Arch.X86)
    assert not is_return_address(read, 0x1001, Arch.X86)


@pytest.mark.parametrize("rel,arch", IMAGES)
def test_scalar_check_gives_the_tables_length_at_every_offset(rel, arch):
    code = _text(rel)[:1 << 14]
    table = call_length_mask(code, np.arange(len(code) + 1), arch).tolist()
    scalar = [call_length_before_end(code[max(0, o - 7):o], arch) or 0
              for o in range(len(code) + 1)]
    assert scalar == table


def test_try_reader_form_gives_the_same_length_as_the_raising_form():
    code = {0x1000 + k: b for k, b in enumerate(bytes.fromhex("ffd0e800000000c3"))}

    def read(address, size):
        if any(a not in code for a in range(address, address + size)):
            raise UnreadableMemory(address, size)
        return bytes(code[a] for a in range(address, address + size))

    def try_read(address, size):
        try:
            return read(address, size)
        except UnreadableMemory:
            return None

    for address in range(0x1000, 0x1009):
        assert call_length_at(read, address, Arch.X86) == \
            call_length_at(read, address, Arch.X86, try_read=try_read), hex(address)
    assert call_length_at(read, 0x1002, Arch.X86, try_read=try_read) == 2
