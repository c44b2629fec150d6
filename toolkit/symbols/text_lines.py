"""Input lines of ``symbolize`` as bytes, a block at a time: split and hex-parsed with numpy.

At a million lines a second there is no room for a ``str`` per input line. A block of input
(about a megabyte, cut after a newline) is split at its newlines with one ``flatnonzero``; the
lines that are a bare address (``0x402a3d``, ``402a3d``, ``0X402A3D``, a ``\\r\\n`` ending
allowed) are recognised and converted to integers as arrays. Everything else — blank lines,
comments, ``module+0xoff``, ``module!symbol``, stray whitespace, bad UTF-8 — is left to the
per-line parser in symbolize.py, decoded exactly as the text reader would (UTF-8, bad bytes
replaced, universal newlines).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Iterator, List

import numpy as np

BLOCK = 1 << 20
_MAX_DIGITS = 16
_HEX_VALUE = np.full(256, 255, dtype=np.uint8)     # byte -> nibble, 255: not a hex digit
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX_VALUE[_c] = _i
    _HEX_VALUE[bytes([_c]).upper()[0]] = _i


def read_blocks(stream: BinaryIO, size: int = BLOCK) -> Iterator[bytes]:
    """``stream`` in blocks of about ``size`` bytes, each ending just after a newline (the last
    one may lack it), so no line is cut in two. A line longer than a block is held whole."""
    held: List[bytes] = []         # a line longer than a block, in pieces (joined once)
    while True:
        data = stream.read(size)
        if not data:
            break
        cut = data.rfind(b"\n")
        if cut < 0:
            held.append(data)
            continue
        yield b"".join(held) + data[:cut + 1] if held else data[:cut + 1]
        held = [data[cut + 1:]]
    rest = b"".join(held)
    if rest:
        yield rest


@dataclass(frozen=True)
class HexLines:
    """The lines of one block: ``[starts[i], ends[i])`` (newline excluded), and per line
    whether it is a bare address (``address``, value in ``values[address]`` order) or empty."""

    starts: np.ndarray     # int64
    ends: np.ndarray       # int64
    address: np.ndarray    # bool
    empty: np.ndarray      # bool: nothing but an optional trailing \r
    values: np.ndarray     # uint64, one per True in ``address``

    def __len__(self) -> int:
        return len(self.starts)


def parse_block(block: bytes) -> HexLines:
    """Split ``block`` at ``\\n`` and parse the bare-address lines, all as array operations."""
    buf = np.frombuffer(block, dtype=np.uint8)
    newlines = np.flatnonzero(buf == 10)
    ends = newlines if block.endswith(b"\n") else np.append(newlines, len(buf))
    starts = np.concatenate(([0], newlines + 1))[:len(ends)].astype(np.int64)
    ends = ends.astype(np.int64)
    if not len(buf):
        return HexLines(starts, ends, np.zeros(0, bool), np.zeros(0, bool),
                        np.zeros(0, np.uint64))
    crlf = (ends > starts) & (buf[np.maximum(ends - 1, 0)] == 13)
    ends = ends - crlf
    empty = ends == starts
    first, second = buf[np.minimum(starts, len(buf) - 1)], buf[np.minimum(starts + 1, len(buf) - 1)]
    prefixed = (ends - starts > 2) & (first == ord("0")) & ((second | 0x20) == ord("x"))
    digits_from = starts + 2 * prefixed
    length = ends - digits_from
    nibbles = _HEX_VALUE[buf]
    bad_before = np.concatenate(([0], np.cumsum(nibbles == 255, dtype=np.int32)))
    address = (length >= 1) & (length <= _MAX_DIGITS) & \
        (bad_before[ends] == bad_before[digits_from])
    return HexLines(starts, ends, address, empty,
                    _values(nibbles, digits_from[address], ends[address]))


def _values(nibbles: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The hex numbers in ``nibbles[starts[i]:ends[i]]`` (1..16 digits each): the 16 nibbles
    ending at each line's end (a strided view, one gather), the ones before its first digit
    zeroed, digit pairs packed into bytes and read as big-endian u64."""
    if not len(starts):
        return np.zeros(0, np.uint64)
    padded = np.concatenate((np.zeros(_MAX_DIGITS, np.uint8), nibbles))
    windows = np.lib.stride_tricks.sliding_window_view(padded, _MAX_DIGITS)[ends]
    lead = (_MAX_DIGITS - (ends - starts)).astype(np.int8)
    digits = windows * (np.arange(_MAX_DIGITS, dtype=np.int8) >= lead[:, None])
    packed = np.ascontiguousarray((digits[:, 0::2] << 4) | digits[:, 1::2])
    return packed.view(">u8").ravel().astype(np.uint64)


def text_lines(raw: bytes) -> List[str]:
    """One line of a block (its ``\\r\\n`` or ``\\n`` already cut off) as the text reader
    sees it: UTF-8 with bad bytes replaced, split at any ``\\r`` left in it (universal
    newlines: a lone ``\\r`` ends a line too), each stripped."""
    text = raw.decode("utf-8", errors="replace")
    return [part.strip() for part in text.split("\r")]


__all__ = ["BLOCK", "HexLines", "parse_block", "read_blocks", "text_lines"]
