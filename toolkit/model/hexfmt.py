"""Hex formatting shared by every JSON view: addresses are ``"0x…"`` padded to pointer width."""

from __future__ import annotations

from typing import Optional


def hex_addr(value: Optional[int], pointer_size: int = 8) -> Optional[str]:
    """``0x`` + zero-padded hex for an address, so JSON sorts and diffs like WinDbg's columns."""
    if value is None:
        return None
    fmt = _ADDRESS_FORMATS.get(pointer_size)
    return fmt % value if fmt is not None else f"0x{value:0{pointer_size * 2}x}"


# printf formats per pointer size: JSON views format every address and register this way
_ADDRESS_FORMATS = {4: "0x%08x", 8: "0x%016x"}


def address_format(pointer_size: int = 8) -> str:
    """The printf format ``hex_addr`` applies: loops formatting many values of one width (a
    frame's registers, ~10 per frame of every thread) use it without a call per value."""
    return _ADDRESS_FORMATS.get(pointer_size) or f"0x%0{pointer_size * 2}x"


def hex_int(value: Optional[int]) -> Optional[str]:
    """``0x`` + hex without padding, for codes, sizes and flags."""
    if value is None:
        return None
    return f"{value:#x}"
