"""Hex formatting shared by every JSON view: addresses are ``"0x…"`` padded to pointer width."""

from __future__ import annotations

from typing import Optional


def hex_addr(value: Optional[int], pointer_size: int = 8) -> Optional[str]:
    """``0x`` + zero-padded hex for an address, so JSON sorts and diffs like WinDbg's columns."""
    if value is None:
        return None
    return f"0x{value:0{pointer_size * 2}x}"


def hex_int(value: Optional[int]) -> Optional[str]:
    """``0x`` + hex without padding, for codes, sizes and flags."""
    if value is None:
        return None
    return f"{value:#x}"
