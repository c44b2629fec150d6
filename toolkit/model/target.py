"""The process model every analysis sees: a ``Target`` protocol and the values it returns.

A minidump, a live pykd session and (for some questions) a PE file all answer through this one
protocol, so an analysis written once runs offline and inside WinDbg. Values are frozen
dataclasses with ``to_json``; unknowns are ``None`` (not zero) so "absent" never reads as "zero".
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Protocol, Sequence, Tuple, runtime_checkable

from toolkit.model.debug_id import DebugId, code_id
from toolkit.model.hexfmt import hex_addr, hex_int


ADDRESS_LIMIT = 1 << 64     # one past the last address of any target


def fits_address_space(base: int, size: int) -> bool:
    """Whether ``[base, base + size)`` lies inside the 64-bit address space. A module that does
    not (a forged ModuleList, ``--modules`` JSON or trace module table) cannot be indexed with
    uint64 arrays and names no real code, so callers drop it with a note."""
    return 0 <= base and 0 < size and base + size <= ADDRESS_LIMIT


def out_of_range_note(module: "Module") -> "Problem":
    """The problem recorded for a module dropped because it lies outside the address space."""
    return Problem("module.out_of_range", f"{module.name}: base {module.base:#x} + size "
                   f"{module.size:#x} is outside the 64-bit address space; module ignored")


class Arch(str, enum.Enum):
    X86 = "x86"
    AMD64 = "amd64"
    ARM64 = "arm64"
    ARM = "arm"
    UNKNOWN = "unknown"

    @property
    def pointer_size(self) -> int:
        return 4 if self in (Arch.X86, Arch.ARM) else 8

    @property
    def ip_register(self) -> str:
        return {Arch.X86: "eip", Arch.AMD64: "rip", Arch.ARM64: "pc", Arch.ARM: "pc"}.get(self, "pc")

    @property
    def sp_register(self) -> str:
        return {Arch.X86: "esp", Arch.AMD64: "rsp"}.get(self, "sp")

    @property
    def fp_register(self) -> str:
        return {Arch.X86: "ebp", Arch.AMD64: "rbp", Arch.ARM64: "fp", Arch.ARM: "r11"}.get(self, "fp")


@dataclass(frozen=True)
class Problem:
    """Recoverable trouble met while reading a target: a stable code and a human sentence."""

    code: str
    message: str

    def to_json(self) -> Dict[str, Any]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class Registers:
    """One CPU context. Names are lower-case WinDbg register names (``eip``, ``rsp``, ``x29``)."""

    arch: Arch
    values: Mapping[str, int]

    @property
    def ip(self) -> Optional[int]:
        return self.values.get(self.arch.ip_register)

    @property
    def sp(self) -> Optional[int]:
        return self.values.get(self.arch.sp_register)

    @property
    def fp(self) -> Optional[int]:
        return self.values.get(self.arch.fp_register)

    def to_json(self) -> Dict[str, Any]:
        ps = self.arch.pointer_size
        return {"arch": self.arch.value, **{k: hex_addr(v, ps) for k, v in self.values.items()}}


@dataclass(frozen=True)
class Thread:
    tid: int
    teb: Optional[int]
    stack_start: Optional[int]          # lowest address of the captured stack memory
    stack_end: Optional[int]            # one past its highest address
    registers: Optional[Registers]      # None when the dump holds no context for the thread
    name: Optional[str] = None
    suspend_count: Optional[int] = None
    priority: Optional[int] = None
    wow64_registers: Optional[Registers] = None   # the 32-bit context of a WOW64 thread
    wow64_teb: Optional[int] = None

    def to_json(self, pointer_size: int = 8) -> Dict[str, Any]:
        return {
            "tid": self.tid,
            "tid_hex": hex_int(self.tid),
            "name": self.name,
            "teb": hex_addr(self.teb, pointer_size),
            "stack_start": hex_addr(self.stack_start, pointer_size),
            "stack_end": hex_addr(self.stack_end, pointer_size),
            "suspend_count": self.suspend_count,
            "priority": self.priority,
            "registers": self.registers.to_json() if self.registers else None,
            "wow64_teb": hex_addr(self.wow64_teb, 4),
            "wow64_registers": self.wow64_registers.to_json() if self.wow64_registers else None,
        }


@dataclass(frozen=True)
class Module:
    """A loaded image. ``base`` and ``size`` are whatever the input claims; ``fits_address_space``
    tells whether they describe a range of the 64-bit address space at all."""

    base: int
    size: int
    path: str                           # as the target names it (full path when known)
    timestamp: Optional[int] = None     # PE TimeDateStamp
    checksum: Optional[int] = None
    size_of_image: Optional[int] = None
    debug_id: Optional[DebugId] = None
    pdb_name: Optional[str] = None
    cv_record: Optional[bytes] = field(default=None, repr=False)
    version: Optional[str] = None
    debug_id_source: Optional[str] = None   # "cv_record" | "image" | None

    @property
    def name(self) -> str:
        """The file name, without directories (``C:\\x\\a.dll`` -> ``a.dll``)."""
        return self.path.replace("\\", "/").rsplit("/", 1)[-1]

    @property
    def end(self) -> int:
        return self.base + self.size

    @property
    def code_id(self) -> Optional[str]:
        if self.timestamp is None or self.size_of_image is None:
            return None
        return code_id(self.timestamp, self.size_of_image)

    def contains(self, address: int) -> bool:
        return self.base <= address < self.base + self.size

    @property
    def fits_address_space(self) -> bool:
        return fits_address_space(self.base, self.size)

    def to_json(self, pointer_size: int = 8) -> Dict[str, Any]:
        return {
            "base": hex_addr(self.base, pointer_size),
            "end": hex_addr(self.end, pointer_size),
            "size": hex_int(self.size),
            "name": self.name,
            "path": self.path,
            "timestamp": hex_int(self.timestamp),
            "checksum": hex_int(self.checksum),
            "size_of_image": hex_int(self.size_of_image),
            "code_id": self.code_id,
            "debug_id": str(self.debug_id) if self.debug_id else None,
            "debug_id_source": self.debug_id_source,
            "pdb_name": self.pdb_name,
            "version": self.version,
        }


@dataclass(frozen=True)
class UnloadedModule:
    base: int
    size: int
    path: str
    timestamp: Optional[int] = None
    checksum: Optional[int] = None

    @property
    def name(self) -> str:
        return self.path.replace("\\", "/").rsplit("/", 1)[-1]

    def to_json(self, pointer_size: int = 8) -> Dict[str, Any]:
        return {"base": hex_addr(self.base, pointer_size), "size": hex_int(self.size),
                "name": self.name, "path": self.path, "timestamp": hex_int(self.timestamp),
                "checksum": hex_int(self.checksum)}


@dataclass(frozen=True)
class ExceptionInfo:
    thread_id: int
    code: int
    name: Optional[str]                 # e.g. EXCEPTION_ACCESS_VIOLATION
    flags: int
    address: int
    parameters: Tuple[int, ...]
    registers: Optional[Registers]      # the exception context, when the dump has one
    record_chain: Optional[int] = None  # ExceptionRecord pointer of a nested exception

    def to_json(self, pointer_size: int = 8) -> Dict[str, Any]:
        return {
            "thread_id": self.thread_id,
            "code": f"0x{self.code:08x}",
            "name": self.name,
            "flags": hex_int(self.flags),
            "address": hex_addr(self.address, pointer_size),
            "parameters": [hex_addr(p, pointer_size) for p in self.parameters],
            "registers": self.registers.to_json() if self.registers else None,
        }


@dataclass(frozen=True)
class HandleObjectInfo:
    """One MINIDUMP_HANDLE_OBJECT_INFORMATION record, decoded where its layout is known."""

    info_type: str                      # MiniMutantInformation2, MiniThreadInformation1, ...
    fields: Mapping[str, int]
    raw: bytes = field(default=b"", repr=False)
    layout: str = "documented"          # "documented" | "inferred" | "raw"

    def to_json(self) -> Dict[str, Any]:
        return {"type": self.info_type, "layout": self.layout,
                "fields": {k: v for k, v in self.fields.items()},
                "raw": self.raw.hex() if self.layout == "raw" else None}


@dataclass(frozen=True)
class Handle:
    handle: int
    type_name: Optional[str]
    object_name: Optional[str]
    attributes: int
    granted_access: int
    handle_count: int
    pointer_count: int
    object_info: Tuple[HandleObjectInfo, ...] = ()

    def info(self, info_type: str) -> Optional[HandleObjectInfo]:
        for item in self.object_info:
            if item.info_type == info_type:
                return item
        return None

    def to_json(self) -> Dict[str, Any]:
        return {"handle": hex_int(self.handle), "type": self.type_name,
                "name": self.object_name, "attributes": hex_int(self.attributes),
                "granted_access": hex_int(self.granted_access),
                "handle_count": self.handle_count, "pointer_count": self.pointer_count,
                "object_info": [i.to_json() for i in self.object_info]}


@dataclass(frozen=True)
class MemoryRegion:
    """A range of target memory whose bytes the dump holds."""

    base: int
    size: int

    @property
    def end(self) -> int:
        return self.base + self.size

    def to_json(self, pointer_size: int = 8) -> Dict[str, Any]:
        return {"base": hex_addr(self.base, pointer_size), "size": hex_int(self.size)}


@dataclass(frozen=True)
class MemoryInfo:
    """One MINIDUMP_MEMORY_INFO row (VirtualQuery's answer), with the coded fields named."""

    base: int
    allocation_base: int
    allocation_protect: int
    size: int
    state: int
    protect: int
    type: int

    @property
    def end(self) -> int:
        return self.base + self.size

    @property
    def is_executable(self) -> bool:
        return bool(self.protect & 0xF0)  # PAGE_EXECUTE, _READ, _READWRITE, _WRITECOPY

    def to_json(self, pointer_size: int = 8) -> Dict[str, Any]:
        from toolkit.model.memory_flags import protect_names, state_name, type_name
        return {"base": hex_addr(self.base, pointer_size),
                "allocation_base": hex_addr(self.allocation_base, pointer_size),
                "allocation_protect": protect_names(self.allocation_protect),
                "size": hex_int(self.size), "state": state_name(self.state),
                "protect": protect_names(self.protect), "type": type_name(self.type)}


@dataclass(frozen=True)
class SystemInfo:
    arch: Arch
    platform: str                       # "windows" | "linux" | "macos" | "unknown"
    os_major: Optional[int] = None
    os_minor: Optional[int] = None
    os_build: Optional[int] = None
    csd_version: Optional[str] = None
    product_type: Optional[int] = None
    processor_count: Optional[int] = None
    processor_level: Optional[int] = None
    processor_revision: Optional[int] = None
    cpu_vendor: Optional[str] = None

    @property
    def os_version(self) -> Optional[str]:
        if self.os_major is None:
            return None
        return f"{self.os_major}.{self.os_minor}.{self.os_build}"

    def to_json(self) -> Dict[str, Any]:
        return {"arch": self.arch.value, "platform": self.platform,
                "os_version": self.os_version, "csd_version": self.csd_version,
                "product_type": self.product_type, "processor_count": self.processor_count,
                "processor_level": self.processor_level,
                "processor_revision": self.processor_revision, "cpu_vendor": self.cpu_vendor}


@dataclass(frozen=True)
class MiscInfo:
    process_id: Optional[int] = None
    process_create_time: Optional[int] = None   # seconds since 1970 (time_t)
    process_user_time: Optional[int] = None
    process_kernel_time: Optional[int] = None
    size_of_info: Optional[int] = None

    def to_json(self) -> Dict[str, Any]:
        return {"process_id": self.process_id, "process_create_time": self.process_create_time,
                "process_user_time": self.process_user_time,
                "process_kernel_time": self.process_kernel_time, "size_of_info": self.size_of_info}


@runtime_checkable
class Target(Protocol):
    """What an analysis may ask of a process, wherever it lives (dump file, live debugger)."""

    @property
    def arch(self) -> Arch: ...

    @property
    def pointer_size(self) -> int: ...

    @property
    def process_id(self) -> Optional[int]: ...

    @property
    def problems(self) -> Sequence[Problem]: ...

    def system_info(self) -> SystemInfo: ...

    def misc_info(self) -> Optional[MiscInfo]: ...

    def threads(self) -> List[Thread]: ...

    def modules(self) -> List[Module]: ...

    def unloaded_modules(self) -> List[UnloadedModule]: ...

    def exception(self) -> Optional[ExceptionInfo]: ...

    def handles(self) -> Optional[List[Handle]]:
        """None when the target has no handle data at all (as opposed to an empty table)."""

    def memory_regions(self) -> Sequence[MemoryRegion]:
        """Possibly a lazy sequence: a full dump can hold 100k regions."""

    def memory_info(self) -> Optional[List[MemoryInfo]]:
        """None when the target has no MemoryInfoList."""

    def read(self, address: int, size: int) -> bytes:
        """Exactly ``size`` bytes or ``UnreadableMemory``; reads may span adjacent regions."""

    def is_readable(self, address: int, size: int = 1) -> bool: ...

    def read_pointer(self, address: int) -> int: ...

    def module_at(self, address: int) -> Optional[Module]: ...


__all__ = [
    "Arch", "Problem", "Registers", "Thread", "Module", "UnloadedModule", "ExceptionInfo",
    "HandleObjectInfo", "Handle", "MemoryRegion", "MemoryInfo", "SystemInfo", "MiscInfo",
    "Target",
]
