"""What the exception record says, in words: code and name, the fast-fail code of a
STATUS_STACK_BUFFER_OVERRUN, the thrown type of an MSVC C++ exception, the crash class.

MSVC C++ throws (0xE06D7363, 'msc') carry in their parameters: [0] the magic 0x19930520..22,
[1] the thrown object, [2] the ThrowInfo, and on 64-bit [3] the image base the ThrowInfo's
32-bit RVAs are relative to. ThrowInfo -> CatchableTypeArray -> CatchableType[0] -> TypeDescriptor,
whose ``name`` is the decorated type name (``.?AVruntime_error@std@@``); these structures live in
the throwing module's .rdata, so they are only readable when the dump captured that memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional

from toolkit.model.errors import DumpkitError
from toolkit.model.ntstatus import exception_name, fast_fail_name
from toolkit.model.target import ExceptionInfo, Target

STACK_BUFFER_OVERRUN = 0xC0000409
CPP_EXCEPTION = 0xE06D7363
STACK_OVERFLOW = 0xC00000FD
BREAKPOINT = 0x80000003
WX86_BREAKPOINT = 0x4000001F
ACCESS_VIOLATION = 0xC0000005
IN_PAGE_ERROR = 0xC0000006
CPP_MAGICS = (0x19930520, 0x19930521, 0x19930522, 0x01994000)
MAX_TYPE_NAME = 512


# Where rust-minidump's crash_info.type spells a code differently from winnt.h/ntstatus.h.
_STACKWALK_NAMES = {0xC0000409: "EXCEPTION_STACK_BUFFER_OVERRUN",
                    0xE06D7363: "UNHANDLED_CPP_EXCEPTION",
                    0xC000008C: "EXCEPTION_BOUNDS_EXCEEDED"}


@dataclass(frozen=True)
class ExceptionSummary:
    code: int
    name: Optional[str]                 # EXCEPTION_ACCESS_VIOLATION, STATUS_..., CPP_EH_EXCEPTION
    detail: Optional[str]               # FAST_FAIL_FATAL_APP_EXIT, the C++ type, "read"/"write"
    kind: str                           # access_violation | fast_fail | cpp_exception |
                                        # stack_overflow | breakpoint | other
    thread_id: int
    address: int
    fast_fail_code: Optional[int] = None
    cpp_type: Optional[str] = None      # decorated name, ".?AVbad_alloc@std@@"

    @property
    def crash_type(self) -> str:
        """rust-minidump's ``crash_info.type``: the name, ``/ detail`` where it has one."""
        base = _STACKWALK_NAMES.get(self.code) or self.name or f"0x{self.code:08x}"
        if self.kind == "access_violation" and self.detail:
            return f"{base}_{self.detail.upper()}"
        if self.kind == "fast_fail":
            return f"{base} / {self.detail or 'FAST_FAIL_UNKNOWN'}"
        return base

    def to_json(self) -> Dict[str, Any]:
        return {"code": f"0x{self.code:08x}", "name": self.name, "detail": self.detail,
                "kind": self.kind, "type": self.crash_type, "thread_id": self.thread_id,
                "fast_fail_code": self.fast_fail_code, "cpp_type": self.cpp_type,
                "cpp_type_readable": _undecorate(self.cpp_type) if self.cpp_type else None}


def summarize_exception(target: Target, exc: ExceptionInfo) -> ExceptionSummary:
    code = exc.code & 0xFFFFFFFF
    name = exception_name(code)
    params = exc.parameters
    if code == STACK_BUFFER_OVERRUN and params:
        return ExceptionSummary(code, name, fast_fail_name(params[0]), "fast_fail",
                                exc.thread_id, exc.address, fast_fail_code=params[0])
    if code == CPP_EXCEPTION:
        cpp = cpp_type_name(target, exc)
        return ExceptionSummary(code, name, _undecorate(cpp) if cpp else None, "cpp_exception",
                                exc.thread_id, exc.address, cpp_type=cpp)
    if code in (ACCESS_VIOLATION, IN_PAGE_ERROR) and params:
        verb = {0: "read", 1: "write", 8: "exec"}.get(params[0])
        return ExceptionSummary(code, name, verb, "access_violation", exc.thread_id, exc.address)
    if code == STACK_OVERFLOW:
        return ExceptionSummary(code, name, None, "stack_overflow", exc.thread_id, exc.address)
    if code in (BREAKPOINT, WX86_BREAKPOINT):
        return ExceptionSummary(code, name, None, "breakpoint", exc.thread_id, exc.address)
    return ExceptionSummary(code, name, None, "other", exc.thread_id, exc.address)


def cpp_type_name(target: Target, exc: ExceptionInfo) -> Optional[str]:
    """The decorated name of the first CatchableType of a C++ throw, None when unreadable."""
    p = exc.parameters
    if len(p) < 3 or p[0] not in CPP_MAGICS or not p[2]:
        return None
    rva_based = target.pointer_size == 8
    base = p[3] if rva_based and len(p) >= 4 else 0
    try:
        def ptr(addr: int) -> int:
            raw = int.from_bytes(target.read(addr, 4), "little")
            return base + raw if rva_based else raw
        throw_info = p[2]
        catchable_array = ptr(throw_info + 12)            # pCatchableTypeArray
        first = ptr(catchable_array + 4)                  # arrayOfCatchableTypes[0]
        type_descriptor = ptr(first + 4)                  # pType
        name_at = type_descriptor + 2 * target.pointer_size   # pVFTable, spare, name[]
        raw_name = _read_cstring(target, name_at)
    except DumpkitError:
        return None
    return raw_name or None


def _read_cstring(target: Target, address: int) -> str:
    out = bytearray()
    while len(out) < MAX_TYPE_NAME:
        chunk = target.read(address + len(out), 1)
        if chunk == b"\0":
            break
        out += chunk
    return out.decode("ascii", errors="replace")


def _undecorate(name: str) -> str:
    """``.?AVbad_alloc@std@@`` -> ``std::bad_alloc`` (class/struct names only; else as is)."""
    if not name.startswith(".?A") or not name.endswith("@@") or len(name) < 6:
        return name
    parts = name[4:-2].split("@")
    return "::".join(reversed([p for p in parts if p]))


__all__ = ["ExceptionSummary", "summarize_exception", "cpp_type_name"]
