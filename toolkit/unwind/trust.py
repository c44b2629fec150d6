"""How far to believe a stack frame: the ordered ``Trust`` enum and the ``Frame`` value.

Every frame carries the trust of the rule that produced it, set once by the unwinder and never
recomputed by renderers. The names are Breakpad's and rust-minidump's (``context``, ``cfi``,
``cfi_scan``, ``frame_pointer``, ``scan``) plus one of ours, ``scan_callsite``.

Order, best first::

    context > cfi > cfi_scan > frame_pointer > scan_callsite > scan

Why ``scan_callsite`` sits below ``frame_pointer`` and above ``scan``: a scanned candidate whose
preceding bytes decode as a CALL ending exactly at it was certainly a return address at *some*
time, which random data pointing into code almost never is, so it beats a blind scan. But it may
be a stale return address left behind by a frame that has already returned; a frame-pointer chain
(or unwind info) instead says which slot belongs to the *current* frame. So structure beats
evidence about the value alone.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple

from toolkit.model.hexfmt import address_format, hex_addr
from toolkit.model.target import Problem


class Trust(enum.Enum):
    """Frame trust, declared best first (``rank`` 0 is best)."""

    CONTEXT = "context"
    CFI = "cfi"
    CFI_SCAN = "cfi_scan"
    FRAME_POINTER = "frame_pointer"
    SCAN_CALLSITE = "scan_callsite"
    SCAN = "scan"

    @property
    def rank(self) -> int:
        """0 for the best rule (``context``), growing as belief weakens."""
        return _ORDER.index(self)

    @property
    def description(self) -> str:
        """Breakpad's "Found by:" sentence (ours for ``scan_callsite``)."""
        return _DESCRIPTIONS[self]

    def better_than(self, other: "Trust") -> bool:
        return self.rank < other.rank

    # Comparisons read as "less trusted than": ``Trust.SCAN < Trust.CFI``, ``max()`` is the best.
    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Trust):
            return NotImplemented
        return self.rank > other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Trust):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:
        return self == other or self.__lt__(other) is True

    def __ge__(self, other: object) -> bool:
        return self == other or self.__gt__(other) is True

    def to_json(self) -> str:
        return self.value


_ORDER = list(Trust)

_DESCRIPTIONS = {
    Trust.CONTEXT: "given as instruction pointer in context",
    Trust.CFI: "call frame info",
    Trust.CFI_SCAN: "call frame info with scanning",
    Trust.FRAME_POINTER: "previous frame's frame pointer",
    Trust.SCAN_CALLSITE: "stack scanning, return address preceded by a call",
    Trust.SCAN: "stack scanning",
}


class EndReason(str, enum.Enum):
    """Why a walk stopped after a frame; every walk ends with one of these."""

    NONE = "none"                          # the walk continues after this frame
    STACK_END = "stack_end"                # caller SP reached or passed the stack base
    IP_TOO_LOW = "ip_too_low"              # caller IP < 4096: end of chain or garbage
    SP_NOT_INCREASING = "sp_not_increasing"
    UNREADABLE = "unreadable"              # the stack or unwind data could not be read
    NO_CALLER = "no_caller"                # no rule found a caller (scan came up empty)
    FRAME_LIMIT = "frame_limit"
    CYCLE = "cycle"                        # the same (ip, sp) seen twice

    @property
    def description(self) -> str:
        """The reason as words for text output (JSON keeps the code and adds this)."""
        return _END_DESCRIPTIONS[self]


_END_DESCRIPTIONS = {
    EndReason.NONE: "not ended",
    EndReason.STACK_END: "stack pointer left the stack (reached its base)",
    EndReason.IP_TOO_LOW: "return address 0 or below 0x1000",
    EndReason.SP_NOT_INCREASING: "stack pointer did not increase",
    EndReason.UNREADABLE: "stack or unwind data unreadable",
    EndReason.NO_CALLER: "no caller found",
    EndReason.FRAME_LIMIT: "frame limit reached",
    EndReason.CYCLE: "the same frame came round again",
}


@dataclass(frozen=True)
class Frame:
    """One stack frame as the walker produced it (``k`` prints one line per frame).

    ``ip`` is the instruction pointer of this frame (for frame 0 the faulting instruction, for
    callers the return address); ``sp`` is the child SP WinDbg shows; ``registers`` holds only
    the registers the rule recovered (plus ip/sp/fp); ``module``/``symbol`` are filled in by the
    symbolizer, not the unwinder.
    """

    index: int
    ip: int
    sp: int
    trust: Trust
    fp: Optional[int] = None
    registers: Mapping[str, int] = field(default_factory=dict)
    module: Optional[str] = None
    symbol: Optional[str] = None
    offset: Optional[int] = None
    end_reason: EndReason = EndReason.NONE
    problems: Tuple[Problem, ...] = ()

    def to_json(self, pointer_size: int = 8) -> Dict[str, Any]:
        fmt = address_format(pointer_size)
        return {
            "index": self.index,
            "ip": hex_addr(self.ip, pointer_size),
            "sp": hex_addr(self.sp, pointer_size),
            "fp": hex_addr(self.fp, pointer_size),
            "trust": self.trust.to_json(),
            "trust_description": self.trust.description,
            "module": self.module,
            "symbol": self.symbol,
            "offset": None if self.offset is None else f"{self.offset:#x}",
            "registers": {k: None if v is None else fmt % v
                          for k, v in sorted(self.registers.items())},
            "end_reason": self.end_reason.value,
            "problems": [p.to_json() for p in self.problems],
        }


__all__ = ["Trust", "EndReason", "Frame"]
