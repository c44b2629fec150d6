"""Is a candidate return address preceded by a CALL that ends exactly there?

A scanned stack slot that points into code is a plausible return address; it is a *verified*
one (trust ``scan_callsite``) when the bytes just before it encode a near CALL whose last byte
is the one just before the address. The encodings (Intel SDM vol. 2, CALL) end at fixed
distances from the return address, so the check is a table of byte patterns over the 2..7
preceding bytes, evaluated on numpy arrays for many candidates at once (the conservative scan
checks millions of slots). Prefixes (REX 40-4F such as ``41 FF D0``, segment overrides) come
before the opcode and do not move its end, so they need no rows of their own.

================================  =====  ==========================================
form                              bytes  pattern (b[k] = byte k before the address)
================================  =====  ==========================================
call rel32                        5      b5 = E8
call reg          (FF /2, mod 3)  2      b2 = FF, b1 in D0..D7
call [reg]        (mod 0)         2      b2 = FF, b1 in 10..17 except 14 (SIB), 15
call [sib]        (mod 0)         3      b3 = FF, b2 = 14, SIB base != 5
call [sib+disp32] (mod 0, base 5) 7      b7 = FF, b6 = 14, SIB base = 5
call [disp32] / [rip+disp32]      6      b6 = FF, b5 = 15
call [reg+disp8]  (mod 1)         3      b3 = FF, b2 in 50..57 except 54
call [sib+disp8]  (mod 1)         4      b4 = FF, b3 = 54
call [reg+disp32] (mod 2)         6      b6 = FF, b5 in 90..97 except 94
call [sib+disp32] (mod 2)         7      b7 = FF, b6 = 94
call far ptr16:32 (x86 only)      7      b7 = 9A
================================  =====  ==========================================

tests/toolkit/unwind/test_unwind_callsite.py cross-checks the table against capstone on
corpus code.
"""

from __future__ import annotations

from typing import Callable, Optional, Union

import numpy as np

from toolkit.model.errors import UnreadableMemory
from toolkit.model.target import Arch

MAX_CALL_LENGTH = 7
Bytes = Union[bytes, bytearray, memoryview, np.ndarray]


def _as_array(code: Bytes) -> np.ndarray:
    if isinstance(code, np.ndarray):
        return code.astype(np.uint8, copy=False)
    return np.frombuffer(bytes(code), dtype=np.uint8)


def call_length_mask(code: Bytes, offsets, arch: Arch = Arch.AMD64) -> np.ndarray:
    """Per offset, the length of the CALL ending just before it, 0 when there is none.

    ``offsets`` index ``code``: each is the position of a candidate return address, and the
    bytes ``code[offset-7:offset]`` are examined (missing bytes before the buffer start match
    nothing). When several forms match (a 6-byte FF 15 whose displacement ends in FF D0...),
    the shortest is reported.
    """
    buf = _as_array(code)
    off = np.asarray(offsets, dtype=np.int64)
    # b[k] = byte k before the offset, -1 where out of range (never equal to an opcode).
    b = np.full((MAX_CALL_LENGTH + 1, off.size), -1, dtype=np.int16)
    for k in range(1, MAX_CALL_LENGTH + 1):
        pos = off - k
        ok = (pos >= 0) & (pos < buf.size)
        b[k, ok] = buf[pos[ok]]
    m1, m2, m3 = b[1], b[2], b[3]
    rows = [
        (2, (m2 == 0xFF) & (m1 >= 0xD0) & (m1 <= 0xD7)),
        (2, (m2 == 0xFF) & (m1 >= 0x10) & (m1 <= 0x17) & (m1 != 0x14) & (m1 != 0x15)),
        (3, (m3 == 0xFF) & (m2 == 0x14) & (m1 >= 0) & ((m1 & 7) != 5)),
        (3, (m3 == 0xFF) & (m2 >= 0x50) & (m2 <= 0x57) & (m2 != 0x54)),
        (4, (b[4] == 0xFF) & (m3 == 0x54)),
        (5, b[5] == 0xE8),
        (6, (b[6] == 0xFF) & (b[5] == 0x15)),
        (6, (b[6] == 0xFF) & (b[5] >= 0x90) & (b[5] <= 0x97) & (b[5] != 0x94)),
        (7, (b[7] == 0xFF) & (b[6] == 0x14) & (b[5] >= 0) & ((b[5] & 7) == 5)),
        (7, (b[7] == 0xFF) & (b[6] == 0x94)),
    ]
    if arch is Arch.X86:
        rows.append((7, b[7] == 0x9A))
    length = np.zeros(off.size, dtype=np.int8)
    for size, hit in reversed(rows):     # shortest wins: assign longest first
        length[hit] = size
    return length


def call_site_mask(code: Bytes, offsets, arch: Arch = Arch.AMD64) -> np.ndarray:
    """Bool per offset: is it the return address of a CALL in ``code``?"""
    return call_length_mask(code, offsets, arch) > 0


def call_before(code: Bytes, offset: int, arch: Arch = Arch.AMD64) -> Optional[int]:
    """Length of the CALL ending at ``offset`` in ``code``, or None."""
    n = int(call_length_mask(code, np.array([offset]), arch)[0])
    return n or None


def call_length_before_end(raw: bytes, arch: Arch = Arch.AMD64) -> Optional[int]:
    """Length of the CALL ending at the end of ``raw`` (up to 7 bytes), or None.

    The table of ``call_length_mask`` for one candidate, in plain Python: a walker checks
    candidates one at a time, where building the numpy rows costs ~100x the comparisons.
    tests/toolkit/unwind/test_unwind_callsite.py holds both to the same answers."""
    n = len(raw)

    def b(k: int) -> int:
        return raw[n - k] if k <= n else -1

    b1, b2, b3 = b(1), b(2), b(3)
    if b2 == 0xFF and (0xD0 <= b1 <= 0xD7 or (0x10 <= b1 <= 0x17 and b1 not in (0x14, 0x15))):
        return 2
    if b3 == 0xFF and ((b2 == 0x14 and b1 >= 0 and (b1 & 7) != 5)
                       or (0x50 <= b2 <= 0x57 and b2 != 0x54)):
        return 3
    if b(4) == 0xFF and b3 == 0x54:
        return 4
    b5 = b(5)
    if b5 == 0xE8:
        return 5
    b6 = b(6)
    if b6 == 0xFF and (b5 == 0x15 or (0x90 <= b5 <= 0x97 and b5 != 0x94)):
        return 6
    b7 = b(7)
    if b7 == 0xFF and ((b6 == 0x14 and b5 >= 0 and (b5 & 7) == 5) or b6 == 0x94):
        return 7
    if arch is Arch.X86 and b7 == 0x9A:
        return 7
    return None


def call_length_at(read: Callable[[int, int], bytes], address: int,
                   arch: Arch = Arch.AMD64,
                   try_read: Optional[Callable[[int, int], Optional[bytes]]] = None
                   ) -> Optional[int]:
    """Read the 7 bytes before ``address`` and return the length of the CALL ending there.

    None when there is none or the bytes are unreadable. Near the start of a readable range,
    fewer bytes are tried, so a 2-byte ``call eax`` right after an unreadable page still counts.
    ``try_read`` (None for unreadable bytes, no exception) is used instead of ``read`` when
    given: most candidates of a scan have no code bytes in a minidump.
    """
    for size in (MAX_CALL_LENGTH, 6, 5, 4, 3, 2):
        if try_read is not None:
            raw = try_read(address - size, size)
            if raw is None:
                continue
        else:
            try:
                raw = read(address - size, size)
            except UnreadableMemory:
                continue
        if len(raw) == size:
            return call_length_before_end(raw, arch)
    return None


def is_return_address(read: Callable[[int, int], bytes], address: int,
                      arch: Arch = Arch.AMD64) -> bool:
    """Is ``address`` preceded by a CALL ending there (``call_length_at``); unreadable is False."""
    return call_length_at(read, address, arch) is not None


__all__ = ["call_length_mask", "call_site_mask", "call_before", "call_length_at",
           "call_length_before_end",
           "is_return_address",
           "MAX_CALL_LENGTH"]
