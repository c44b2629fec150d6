"""Structure-aware mutation for the property tests (issue 12): edits land inside the regions of
a real file that a parser reads (a stream, a directory, a table), not anywhere in it, so most
examples reach deep into the parser instead of failing at the first magic number.

An edit is (region, position, kind, value): ``kind`` 0 sets one byte, 1 a little-endian dword,
2 a qword. Values lean to the boundaries attackers use (0, all ones, sign bits, sizes just past
the file) with arbitrary values mixed in.
"""

from __future__ import annotations

import struct
from typing import List, Sequence, Tuple

from hypothesis import HealthCheck, strategies as st

# Every property test in tests/hostile runs with these: no per-example deadline (a loaded CI
# host is slow, and hangs are caught by the bounded inputs, not by timing), the same examples
# on every run (derandomize: CI is reproducible) and no example database carried between runs.
PROPERTY_SETTINGS = dict(deadline=None, derandomize=True, database=None,
                         suppress_health_check=[HealthCheck.too_slow,
                                                HealthCheck.data_too_large])

Region = Tuple[int, int]                 # [start, end) in the file
Edit = Tuple[int, int, int, int]

BOUNDARY_32 = [0, 1, 2, 4, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000,
               0xFFFFFFFE, 0xFFFFFFFF]
BOUNDARY_64 = BOUNDARY_32 + [0x400000, 0x401000, 0x7FFFFFFFFFFFFFFF, 0x8000000000000000,
                             0xFFFFFFFFFFFFF000, 0xFFFFFFFFFFFFFFFF]


def edits(max_edits: int = 6) -> st.SearchStrategy[List[Edit]]:
    value = st.sampled_from(BOUNDARY_64) | st.integers(0, (1 << 64) - 1)
    return st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 1 << 20),
                              st.integers(0, 2), value), min_size=1, max_size=max_edits)


def apply_edits(data: bytes, regions: Sequence[Region], chosen: Sequence[Edit],
                extra: Sequence[int] = ()) -> bytes:
    """``data`` with each edit written inside ``regions[region % len(regions)]``; ``extra``
    sizes (e.g. the file's own length) join the boundary values as they are written."""
    out = bytearray(data)
    regions = [r for r in regions if r[1] > r[0]]
    for region, position, kind, value in chosen:
        start, end = regions[region % len(regions)]
        width = (1, 4, 8)[kind]
        if end - start < width:
            width = 1
        at = start + position % (end - start - width + 1)
        if extra and value % 7 == 0:
            value = extra[value // 7 % len(extra)] + (value >> 61) - 2   # around the size
        value &= (1 << (8 * width)) - 1
        out[at:at + width] = value.to_bytes(width, "little")
    return bytes(out)


def dword(data: bytes, at: int) -> int:
    return struct.unpack_from("<I", data, at)[0]
