"""Debug and code identities of a module, in the spellings the peers use.

A debug id names the PDB a binary was linked with: GUID + age for RSDS records, signature + age
for NB10. A code id names the binary itself: TimeDateStamp + SizeOfImage. Both are spelled the
way Microsoft's symbol store lays out its directories, which is also the form Breakpad's MODULE
lines and rust-minidump print (``<GUID upper, no dashes><age hex>``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Union

if TYPE_CHECKING:
    import uuid   # imported where a GUID is made: `dumpkit info` on a dump without one skips it


@dataclass(frozen=True)
class DebugId:
    """A PDB identity. ``guid`` is a UUID for RSDS and an int (32-bit signature) for NB10."""

    guid: Union[uuid.UUID, int]
    age: int

    @classmethod
    def from_guid_bytes(cls, guid_le: bytes, age: int) -> "DebugId":
        """From the 16 on-disk GUID bytes (Data1..Data3 little-endian), as in RSDS records."""
        import uuid
        return cls(uuid.UUID(bytes_le=bytes(guid_le)), age)

    @classmethod
    def parse(cls, text: str) -> "DebugId":
        """Accept the breakpad form (33+ hex digits) and the dashed symbolic form ``guid-age``."""
        import uuid
        t = text.strip().replace("{", "").replace("}", "")
        parts = t.split("-")
        try:
            if len(parts) == 6:  # 8-4-4-4-12-age
                return cls(uuid.UUID("-".join(parts[:5])), int(parts[5], 16))
            if len(parts) == 5:
                return cls(uuid.UUID(t), 0)
            if len(parts) == 1 and len(t) >= 33:
                return cls(uuid.UUID(t[:32]), int(t[32:], 16))
            if len(parts) == 1 and 9 <= len(t) <= 16:
                return cls(int(t[:8], 16), int(t[8:], 16))
        except ValueError:
            pass
        raise ValueError(f"not a debug id: {text!r}")

    @property
    def is_nb10(self) -> bool:
        return isinstance(self.guid, int)

    @property
    def breakpad(self) -> str:
        """``5A9832E5287241C1838ED98914E9B7FF1``: the symbol-store directory name."""
        if isinstance(self.guid, int):
            return f"{self.guid:08X}{self.age:x}"
        return f"{self.guid.hex.upper()}{self.age:x}"

    @property
    def dashed(self) -> str:
        """``5a9832e5-2872-41c1-838e-d98914e9b7ff-1``: the form ``symbolic`` reports."""
        if isinstance(self.guid, int):
            return f"{self.guid:08x}-0000-0000-0000-000000000000-{self.age:x}"
        return f"{self.guid}-{self.age:x}"

    def __str__(self) -> str:
        return self.breakpad


def code_id(timestamp: int, size_of_image: int) -> str:
    """``<TimeDateStamp %08X><SizeOfImage %x>``: the symbol-store directory of a binary."""
    return f"{timestamp:08X}{size_of_image:x}"


def optional_str(value: Optional[object]) -> Optional[str]:
    return None if value is None else str(value)
