"""A tiny in-memory Target for walker edge cases (cycles, zeroed registers, truncation)."""

from __future__ import annotations

from typing import Dict, List, Optional

from toolkit.model.errors import UnreadableMemory
from toolkit.model.target import Arch, Module, Registers, Thread


class FakeTarget:
    def __init__(self, arch: Arch, memory: Dict[int, bytes], modules: List[Module],
                 threads: List[Thread]) -> None:
        self.arch = arch
        self.pointer_size = arch.pointer_size
        self._memory = memory
        self._modules = modules
        self._threads = threads

    def threads(self) -> List[Thread]:
        return list(self._threads)

    def modules(self) -> List[Module]:
        return list(self._modules)

    def exception(self):
        return None

    def read(self, address: int, size: int) -> bytes:
        for base, data in self._memory.items():
            if base <= address and address + size <= base + len(data):
                return data[address - base:address - base + size]
        raise UnreadableMemory(address, size)

    def read_pointer(self, address: int) -> int:
        return int.from_bytes(self.read(address, self.pointer_size), "little")

    def is_readable(self, address: int, size: int = 1) -> bool:
        try:
            self.read(address, size)
            return True
        except UnreadableMemory:
            return False

    def module_at(self, address: int) -> Optional[Module]:
        return next((m for m in self._modules if m.contains(address)), None)


def words(values, size: int = 4) -> bytes:
    return b"".join(v.to_bytes(size, "little") for v in values)


def thread(arch: Arch, tid: int, stack_start: int, stack_end: int, **regs: int) -> Thread:
    return Thread(tid, None, stack_start, stack_end, Registers(arch, regs))
