"""The 32-bit view of a WOW64 thread in an x64 dump: its TEB32 and its saved x86 context.

Layouts (winternl/ntwow64 headers as published by the Windows research community; the context
location is INFERRED from Windows 7..11 behaviour, see docs/minidump-notes.md):

* TEB64.NtTib.Self at +0x30 points back at the TEB64; the TEB32 follows the TEB64 at +0x2000
  on every released Windows, and its NtTib.Self (+0x18) points back at itself.
* TEB64.TlsSlots (+0x1480), slot 1 (WOW64_TLS_CPURESERVED) points at WOW64_CPURESERVED:
  ``USHORT Flags; USHORT Machine; CONTEXT32 Context`` — the x86 CONTEXT at +4, whose
  ContextFlags carry CONTEXT_i386 (0x10000).
"""

from __future__ import annotations

from typing import Optional, Tuple

from parsers.context import CONTEXT_SIZES, CONTEXT_i386, registers_from_bytes
from parsers.nt_tib import (WOW64_CONTEXT_OFFSET_IN_CPURESERVED, WOW64_TEB32_OFFSET,
                            WOW64_TLS_CPURESERVED)
from toolkit.model.errors import DumpkitError
from toolkit.model.target import Arch, Registers

# The layouts are parsers.nt_tib's; only these two fields are read, so they are read alone.
TEB32_SELF = 0x18                 # TEB32.NtTib.Self
TEB64_TLS_SLOTS = 0x1480          # TEB64.TlsSlots
WOW64_DLLS = frozenset({"wow64cpu.dll", "wow64.dll"})   # loaded in every WOW64 process


def wow64_state(target, teb64: int) -> Tuple[Optional[int], Optional[Registers]]:
    """(TEB32 address, 32-bit registers) of a WOW64 thread; None for what memory lacks."""
    teb32 = teb64 + WOW64_TEB32_OFFSET
    try:
        if target.read_pointer(teb32 + TEB32_SELF) & 0xFFFFFFFF != teb32 & 0xFFFFFFFF:
            teb32_checked: Optional[int] = None
        else:
            teb32_checked = teb32
    except DumpkitError:
        teb32_checked = teb32 if teb32 < 1 << 32 else None   # conventional place, unverified
    regs = None
    try:
        reserved = int.from_bytes(target.read(
            teb64 + TEB64_TLS_SLOTS + 8 * WOW64_TLS_CPURESERVED, 8), "little")
        if reserved:
            raw = target.read(reserved + WOW64_CONTEXT_OFFSET_IN_CPURESERVED,
                              CONTEXT_SIZES["x86"])
            if int.from_bytes(raw[:4], "little") & CONTEXT_i386:      # ContextFlags
                regs = Registers(Arch.X86, registers_from_bytes("x86", raw))
    except DumpkitError:
        pass
    return teb32_checked, regs


__all__ = ["wow64_state", "WOW64_DLLS"]
