"""Names for the coded fields of MINIDUMP_MEMORY_INFO (winnt.h PAGE_*, MEM_*).

Protect values combine a base protection with modifier bits (PAGE_GUARD | PAGE_READWRITE), which
is why these are decoded as flags and never looked up as single enum values.
"""

from __future__ import annotations

from typing import List

PAGE_BASE = {
    0x01: "PAGE_NOACCESS", 0x02: "PAGE_READONLY", 0x04: "PAGE_READWRITE",
    0x08: "PAGE_WRITECOPY", 0x10: "PAGE_EXECUTE", 0x20: "PAGE_EXECUTE_READ",
    0x40: "PAGE_EXECUTE_READWRITE", 0x80: "PAGE_EXECUTE_WRITECOPY",
}
PAGE_MODIFIERS = {0x100: "PAGE_GUARD", 0x200: "PAGE_NOCACHE", 0x400: "PAGE_WRITECOMBINE",
                  0x40000000: "PAGE_TARGETS_INVALID"}
MEM_STATE = {0x1000: "MEM_COMMIT", 0x2000: "MEM_RESERVE", 0x10000: "MEM_FREE"}
MEM_TYPE = {0x20000: "MEM_PRIVATE", 0x40000: "MEM_MAPPED", 0x1000000: "MEM_IMAGE"}


def protect_names(value: int) -> List[str]:
    names = [name for bit, name in PAGE_BASE.items() if value & bit]
    names += [name for bit, name in PAGE_MODIFIERS.items() if value & bit]
    known = sum(PAGE_BASE) | sum(PAGE_MODIFIERS)
    if value & ~known:
        names.append(f"{value & ~known:#x}")
    return names


def state_name(value: int) -> str:
    return MEM_STATE.get(value, f"{value:#x}")


def type_name(value: int) -> str:
    return MEM_TYPE.get(value, f"{value:#x}" if value else "")
