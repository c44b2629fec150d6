"""``MinidumpTarget``: the Target protocol answered from a Windows minidump file.

Streams are decoded lazily, once, on first use: opening a dump reads the header, the directory
and SystemInfo only, so listing threads of a multi-GB full dump does not touch its memory lists.
Memory goes through ``toolkit.model.memory.MemoryMap`` over the mmap'd file.

Rule for non-Windows minidumps (Breakpad/Crashpad dumps of Linux, macOS, Android...): they are
declined with ``UnsupportedTarget`` at open time, because the model (TEBs, PE modules, NTSTATUS
codes, SEH) is Windows'; a half-filled target would mislead every analysis downstream.
"""

from __future__ import annotations

import bisect
import os
from dataclasses import replace
from typing import Callable, Dict, List, Optional, Sequence, Union

from toolkit.targets.minidump import package as package
from toolkit.targets.minidump import streams as streams
from toolkit.model.errors import CorruptInput, CorruptStream, UnsupportedTarget
from toolkit.model.memory import MemoryMap
from toolkit.targets.minidump.file import MinidumpFile
from toolkit.targets.minidump.image import debug_id_from_image
from toolkit.targets.minidump.wow64 import WOW64_DLLS, wow64_state
from toolkit.model.ntstatus import exception_name
from toolkit.model.target import (Arch, ExceptionInfo, Handle, MemoryInfo, MemoryRegion, MiscInfo,
                            Module, Problem, Registers, SystemInfo, Thread, UnloadedModule,
                            out_of_range_note)

MEMORY_LIST, MEMORY64_LIST, MEMORY_INFO_LIST = 5, 9, 16

_UNSET = object()


class MinidumpTarget:
    """A Windows user-mode minidump as a ``toolkit.model.target.Target``."""

    def __init__(self, source: Union[str, "os.PathLike[str]", bytes]) -> None:
        self.file = MinidumpFile(source)
        self.path = self.file.path
        self._problems: List[Problem] = []
        self._cache: Dict[str, object] = {}
        try:
            if not self.file.has(streams.SYSTEM_INFO):
                raise CorruptInput("no SystemInfo stream: the architecture is unknown",
                                   path=self.path)
            self._system, platform_id = package.system_info(self.file)
            if self._system.platform not in ("windows", "unknown"):
                raise UnsupportedTarget(
                    f"{self.path} is a {self._system.platform} minidump (platform id "
                    f"{platform_id:#x}); dumpkit analyses Windows processes only")
        except BaseException:
            self.file.close()
            raise
        if self._system.arch is Arch.UNKNOWN:
            self._problems.append(Problem("minidump.arch_unknown",
                                          "no SystemInfo processor architecture this toolkit "
                                          "knows; registers are not decoded"))

    # ---- caching helpers ----------------------------------------------------------------------

    def _cached(self, key: str, build):
        value = self._cache.get(key, _UNSET)
        if value is _UNSET:
            value = build()
            self._cache[key] = value
        return value

    def _optional(self, key: str, build, default):
        """Decode an optional stream; a corrupt one becomes a problem and ``default``."""
        def guarded():
            try:
                return build()
            except CorruptStream as exc:
                self._problems.append(Problem(f"stream.{key}", str(exc)))
                return default
        return self._cached(key, guarded)

    def _context(self, rva: int, size: int, stream_type: int, code: str,
                 prefix: str = "") -> Optional[Registers]:
        """The registers of the context record at ``rva`` (our layouts: the package decodes no
        context), None when the arch is unknown; a corrupt record becomes Problem ``code``."""
        if self.arch is Arch.UNKNOWN:
            return None
        try:
            return streams.context(self.file, self.arch, rva, size, stream_type)
        except CorruptStream as exc:
            self._problems.append(Problem(code, f"{prefix}{exc}"))
            return None

    # ---- protocol: identity -------------------------------------------------------------------

    @property
    def arch(self) -> Arch:
        return self._system.arch

    @property
    def pointer_size(self) -> int:
        return self._system.arch.pointer_size if self._system.arch is not Arch.UNKNOWN else 8

    @property
    def process_id(self) -> Optional[int]:
        info = self.misc_info()
        return info.process_id if info else None

    @property
    def problems(self) -> Sequence[Problem]:
        memory = self._cache.get("memory")
        extra = list(memory.problems) if isinstance(memory, MemoryMap) else []
        return tuple(self.file.problems + self._problems + extra)

    @property
    def header_flags(self):
        """The MINIDUMP_TYPE flags the writer was asked for (a construct FlagsEnum container)."""
        return self.file.header.Flags

    @property
    def timestamp(self) -> int:
        return self.file.header.TimeDateStamp

    def system_info(self) -> SystemInfo:
        return self._system

    def misc_info(self) -> Optional[MiscInfo]:
        return self._optional("misc_info", lambda: package.misc_info(self.file), None)

    # ---- threads ------------------------------------------------------------------------------

    def threads(self) -> List[Thread]:
        return list(self._cached("threads", self._build_threads))

    def _build_threads(self) -> List[Thread]:
        names = self._optional("thread_names", lambda: streams.thread_names(self.file), {})
        wow64 = self.is_wow64()
        out = []
        for t in package.thread_list(self.file):
            regs = self._context(t.context_rva, t.context_size, streams.THREAD_LIST,
                                 "thread.context", f"thread {t.tid:#x}: ")
            if regs is None and self.arch is not Arch.UNKNOWN:
                self._problems.append(Problem("thread.context_missing",
                                              f"thread {t.tid:#x} has no context"))
            thread = Thread(tid=t.tid, teb=t.teb or None,
                            stack_start=t.stack_start if t.stack_size else None,
                            stack_end=t.stack_start + t.stack_size if t.stack_size else None,
                            registers=regs, name=names.get(t.tid),
                            suspend_count=t.suspend_count, priority=t.priority)
            if wow64 and thread.teb:
                teb32, regs32 = wow64_state(self, thread.teb)
                thread = replace(thread, wow64_teb=teb32, wow64_registers=regs32)
            out.append(thread)
        return out

    def thread_infos(self) -> Dict[int, object]:
        """MINIDUMP_THREAD_INFO rows by thread id ({} when the dump has no ThreadInfoList)."""
        return self._optional("thread_infos", lambda: streams.thread_infos(self.file), {})

    def dump_thread_id(self) -> Optional[int]:
        """The thread that wrote the dump (Breakpad's info stream), None when the dump does not
        say: its context was captured while it went on running, so its stack above the
        context's SP holds what the writer wrote later (see toolkit.stackwalk.frame_scan)."""
        return self._optional("dump_thread_id", lambda: streams.dump_thread_id(self.file), None)

    # ---- modules ------------------------------------------------------------------------------

    def modules(self) -> List[Module]:
        return list(self._cached("modules", self._build_modules))

    def _listed_modules(self) -> List[Module]:
        """The ModuleList as decoded, before debug ids are looked up in images (decoded once:
        ``is_wow64`` needs the names while threads are built, ``modules`` the whole list)."""
        return self._cached("modules_listed", lambda: package.modules(self.file, self._problems))

    def _build_modules(self) -> List[Module]:
        out = []
        for m in self._listed_modules():
            if not m.fits_address_space:
                self._problems.append(out_of_range_note(m))
                continue
            if m.debug_id is None and not m.cv_record:
                found = debug_id_from_image(self, m)
                if found is not None:
                    m = replace(m, debug_id=found[0], pdb_name=found[1], debug_id_source="image")
                else:
                    self._problems.append(Problem("module.no_codeview",
                                                  f"{m.name}: no CodeView record"))
            out.append(m)
        return out

    def _sorted_modules(self):
        def build():
            mods = sorted(self.modules(), key=lambda m: m.base)
            return mods, [m.base for m in mods]
        return self._cached("modules_sorted", build)

    def module_at(self, address: int) -> Optional[Module]:
        mods, bases = self._sorted_modules()
        i = bisect.bisect_right(bases, address) - 1
        if i >= 0 and mods[i].contains(address):
            return mods[i]
        return None

    def unloaded_modules(self) -> List[UnloadedModule]:
        return list(self._optional("unloaded", lambda: package.unloaded_modules(self.file), []))

    def is_wow64(self) -> bool:
        """An AMD64 dump of a 32-bit process: the WOW64 layer's DLLs are loaded."""
        if self.arch is not Arch.AMD64:
            return False
        names = {m.name.lower() for m in self._listed_modules()}
        return bool(names & WOW64_DLLS)

    # ---- exception ----------------------------------------------------------------------------

    def exception(self) -> Optional[ExceptionInfo]:
        return self._cached("exception", self._build_exception)

    def _build_exception(self) -> Optional[ExceptionInfo]:
        e = package.exception_record(self.file)
        if e is None:
            return None
        regs = self._context(e.context_rva, e.context_size, streams.EXCEPTION,
                             "exception.context")
        if e.number_parameters > len(e.parameters):
            self._problems.append(Problem("exception.parameters", f"NumberParameters "
                                          f"{e.number_parameters} exceeds 15; extra ignored"))
        return ExceptionInfo(thread_id=e.thread_id, code=e.code, name=exception_name(e.code),
                             flags=e.flags, address=e.address, parameters=e.parameters,
                             registers=regs, record_chain=e.record_chain or None)

    # ---- handles ------------------------------------------------------------------------------

    def handles(self) -> Optional[List[Handle]]:
        found = self._optional("handles", lambda: streams.handles(self.file, self._problems), None)
        return None if found is None else list(found)

    # ---- memory -------------------------------------------------------------------------------

    @property
    def memory(self) -> MemoryMap:
        return self._cached("memory", self._build_memory)

    def _build_memory(self) -> MemoryMap:
        from parsers.minidump_memory import parse_memory64_list, parse_memory_list
        maps = []
        for stream_type in (MEMORY_LIST, MEMORY64_LIST):
            entry = self.file.entry(stream_type)
            if entry is None:
                continue
            try:
                if stream_type == MEMORY_LIST:
                    table = parse_memory_list(self.file.data, entry.rva, entry.size)
                    maps.append(MemoryMap.from_memory_list(self.file.data, table))
                else:
                    base, table = parse_memory64_list(self.file.data, entry.rva, entry.size)
                    maps.append(MemoryMap.from_memory64_list(self.file.data, base, table))
            except CorruptStream as exc:
                self._problems.append(Problem("stream.memory", str(exc)))
        if not maps:
            return MemoryMap(self.file.data, [], [], [])
        return maps[0] if len(maps) == 1 else MemoryMap.merged(*maps)

    def memory_regions(self) -> Sequence[MemoryRegion]:
        return self.memory.regions()

    def read(self, address: int, size: int) -> bytes:
        return self.memory.read(address, size)

    def is_readable(self, address: int, size: int = 1) -> bool:
        return self.memory.is_readable(address, size)

    def read_pointer(self, address: int) -> int:
        return self.memory.read_pointer(address, self.pointer_size)

    def try_read(self, address: int, size: int) -> Optional[bytes]:
        return self.memory.try_read(address, size)

    def try_reader(self) -> "Callable[[int, int], Optional[bytes]]":
        """``try_read`` bound straight to the memory map, for callers that read in loops."""
        return self.memory.try_read

    def memory_info_table(self):
        """The MemoryInfoList as a numpy structured array (None when absent): no Python loop."""
        def build():
            from parsers.minidump_memory import parse_memory_info_list
            entry = self.file.entry(MEMORY_INFO_LIST)
            if entry is None:
                return None
            return parse_memory_info_list(self.file.data, entry.rva, entry.size)
        return self._optional("memory_info_table", build, None)

    def memory_info(self) -> Optional[List[MemoryInfo]]:
        table = self.memory_info_table()
        if table is None:
            return None
        cols = [table[n].tolist() for n in ("BaseAddress", "AllocationBase", "AllocationProtect",
                                            "RegionSize", "State", "Protect", "Type")]
        return [MemoryInfo(*row) for row in zip(*cols)]

    def close(self) -> None:
        memory = self._cache.pop("memory", None)
        if isinstance(memory, MemoryMap):
            memory.close()
        self.file.close()

    def __enter__(self) -> "MinidumpTarget":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"MinidumpTarget({self.path!r}, arch={self.arch.value})"


__all__ = ["MinidumpTarget"]
