"""What a faulting access touched: read/write/execute, the null-pointer class (below 64 KiB),
non-canonical addresses, execution on a stack or in memory that is not executable.

Null class: Windows never maps the first 64 KiB, so an address there is a null pointer plus a
field offset (WinDbg's NULL_CLASS_PTR_*). Non-canonical: on x64 bits 63..47 must all equal bit
47; a CPU raises #GP for anything else and Windows reports address 0xffffffffffffffff, so the
faulting instruction's operand is the better source (``toolkit.triage.instruction``). Page
protections come from MemoryInfoList when the dump has one; otherwise "unknown".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from toolkit.model.hexfmt import hex_addr
from toolkit.model.target import Arch, ExceptionInfo, MemoryInfo, Target

NULL_LIMIT = 0x10000
MEM_FREE = 0x10000


@dataclass(frozen=True)
class AccessAnalysis:
    access: str                         # "read" | "write" | "execute" | "unknown"
    address: Optional[int]
    null_class: bool
    non_canonical: bool
    on_stack: bool                      # the address lies in some thread's stack
    protection: Optional[str]           # "PAGE_READWRITE" ... from MemoryInfoList, None: no list
    executable: Optional[bool]          # None when MemoryInfoList is absent
    state: Optional[str]                # MEM_COMMIT / MEM_RESERVE / MEM_FREE
    flags: List[str]                    # e.g. ["exec_on_stack", "exec_non_executable"]

    @property
    def failure_class(self) -> str:
        """WinDbg's failure-class words: NULL_CLASS_PTR_WRITE, INVALID_POINTER_READ, ..."""
        verb = {"read": "READ", "write": "WRITE", "execute": "EXECUTE"}.get(self.access, "")
        if self.access == "execute" and self.on_stack:
            return "STACK_CODE_EXECUTION"
        if self.non_canonical:
            return "NON_CANONICAL_ADDRESS" + (f"_{verb}" if verb else "")
        if self.null_class:
            return "NULL_CLASS_PTR" + (f"_{verb}" if verb else "")
        return "INVALID_POINTER" + (f"_{verb}" if verb else "")

    def to_json(self, pointer_size: int = 8) -> Dict[str, Any]:
        return {"access": self.access, "address": hex_addr(self.address, pointer_size),
                "null_class": self.null_class, "non_canonical": self.non_canonical,
                "on_stack": self.on_stack, "protection": self.protection,
                "executable": self.executable, "state": self.state, "flags": list(self.flags),
                "failure_class": self.failure_class}


def is_non_canonical(address: int, arch: Arch) -> bool:
    if arch not in (Arch.AMD64, Arch.ARM64):
        return False
    top = address >> 47
    return top not in (0, (1 << 17) - 1)


def analyze_access(target: Target, exc: ExceptionInfo,
                   operand_address: Optional[int] = None) -> Optional[AccessAnalysis]:
    """For access violations and in-page errors; None for other exceptions."""
    if exc.code not in (0xC0000005, 0xC0000006) or len(exc.parameters) < 2:
        return None
    access = {0: "read", 1: "write", 8: "execute"}.get(exc.parameters[0], "unknown")
    address = exc.parameters[1]
    if target.arch is Arch.AMD64 and address == 0xFFFFFFFFFFFFFFFF and operand_address is not None:
        address = operand_address            # #GP: Windows hides the real operand
    non_canonical = is_non_canonical(address, target.arch) or (
        operand_address is not None and is_non_canonical(operand_address, target.arch))
    on_stack = any(t.stack_start is not None and t.stack_end is not None
                   and t.stack_start <= address < t.stack_end for t in target.threads())
    info = _info_at(target.memory_info(), address)
    have_info = target.memory_info() is not None
    executable = info.is_executable if info is not None and info.state != MEM_FREE else (
        False if have_info else None)
    flags: List[str] = []
    if access == "execute":
        if on_stack:
            flags.append("exec_on_stack")
        if executable is False:
            flags.append("exec_non_executable")
    from toolkit.model.memory_flags import protect_names, state_name
    return AccessAnalysis(access, address, address < NULL_LIMIT, non_canonical, on_stack,
                          "|".join(protect_names(info.protect)) if info is not None else None,
                          executable, state_name(info.state) if info is not None else None,
                          flags)


def _info_at(table: Optional[List[MemoryInfo]], address: int) -> Optional[MemoryInfo]:
    if not table:
        return None
    for row in table:
        if row.base <= address < row.end:
            return row
    return None


__all__ = ["AccessAnalysis", "analyze_access", "is_non_canonical"]
