"""``PykdTarget``: the Target protocol answered by the debugger engine through pykd 0.3.x.

Inside WinDbg/kd the process is the debugger's current target (live or dump), so analyses that
run on minidumps run here unchanged. Only functions pykd 0.3.4 documents are called (a test walks
this file's AST and checks every ``pykd.<name>`` against that list). Where pykd has no call for a
fact, the answer is what the engine prints for the matching WinDbg command through
``dbgCommand`` (``!lmi`` for a module's CodeView record, ``.ecxr`` for the exception context), or
``None`` — never a guess.

Handles come from ``!handle 0 f`` (toolkit/targets/pykd/text.py parses it; a mutant's "Mutant Owner
pid.tid" becomes a ``MiniMutantInformation2`` record with layout "debugger").

Suspend counts come from ``~``. Differences from a minidump, by design: thread names and
priorities and the MemoryInfoList (see ``memory_info``) are not asked of the engine (pykd documents no call for them) and read as
``None``; a thread's stack runs from the start of the readable region holding its stack pointer
(the engine's memory map, ``findMemoryRegion``) to ``NT_TIB.StackBase``.
"""

from __future__ import annotations

import bisect
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

from toolkit.model.debug_id import DebugId
from toolkit.model.errors import DumpkitError, UnreadableMemory
from toolkit.model.ntstatus import exception_name
from toolkit.model.target import (Arch, ExceptionInfo, Handle, MemoryInfo, MemoryRegion, MiscInfo,
                            Module, Problem, Registers, SystemInfo, Thread, UnloadedModule)

# WinDbg register names, as the minidump backend spells them, so Registers compare equal.
REGISTER_NAMES = {
    Arch.X86: ("eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp", "eip", "efl",
               "cs", "ds", "es", "fs", "gs", "ss"),
    Arch.AMD64: ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "rip", "r8", "r9",
                 "r10", "r11", "r12", "r13", "r14", "r15", "efl", "cs", "ds", "es", "fs", "gs",
                 "ss", "mxcsr"),
}
MAX_REGIONS = 1 << 20          # a runaway engine memory map must not loop forever

# ``!lmi`` prints the CodeView record the engine holds for a module (from the dump's module
# stream or the mapped image): "RSDS - GUID: {…}" then "Age: 1, Pdb: name.pdb".
_LMI_RSDS = re.compile(r"RSDS\s*-\s*GUID:\s*\{?([0-9A-Fa-f-]{36})\}?")
_LMI_AGE_PDB = re.compile(r"Age:\s*([0-9A-Fa-fx]+),\s*Pdb:\s*(.+?)\s*$", re.MULTILINE)


def parse_lmi_codeview(text: str) -> Optional[Tuple[DebugId, str]]:
    """(debug id, PDB name) from ``!lmi`` output, or None when it shows no RSDS record."""
    guid = _LMI_RSDS.search(text)
    rest = _LMI_AGE_PDB.search(text, guid.end()) if guid else None
    if guid is None or rest is None:
        return None
    import uuid
    age_text = rest.group(1)
    age = int(age_text, 16) if age_text.lower().startswith("0x") else int(age_text)
    return DebugId(uuid.UUID(guid.group(1)), age), rest.group(2)


class PykdTarget:
    """The debugger's current process as a ``toolkit.model.target.Target`` (``pykd`` passed in)."""

    def __init__(self, pykd: Any) -> None:
        self.pykd = pykd
        self.path = "<debugger>"
        self._problems: List[Problem] = []
        self._cache: Dict[str, Any] = {}
        self._arch = Arch.AMD64 if pykd.is64bitSystem() else Arch.X86

    # ---- identity -----------------------------------------------------------------------------
    @property
    def arch(self) -> Arch:
        return self._arch

    @property
    def pointer_size(self) -> int:
        return self._arch.pointer_size

    @property
    def process_id(self) -> Optional[int]:
        return self._call(self.pykd.getProcessSystemID)

    @property
    def problems(self) -> Sequence[Problem]:
        return tuple(self._problems)

    @property
    def is_kernel(self) -> bool:
        return bool(self.pykd.isKernelDebugging())

    @property
    def is_dump(self) -> bool:
        return bool(self.pykd.isDumpAnalyzing())

    def system_info(self) -> SystemInfo:
        """Version numbers from ``getSystemVersion``; service pack, product type and processor
        count from ``vertarget`` (pykd has no call for them). Processor level, revision and
        vendor stay None: neither carries them."""
        from toolkit.targets.pykd.text import parse_vertarget
        version = self._call(self.pykd.getSystemVersion)
        extra = parse_vertarget(str(self._call(self.pykd.dbgCommand, "vertarget") or ""))
        if version is None:
            return SystemInfo(self._arch, "windows", **extra)  # type: ignore[arg-type]
        return SystemInfo(self._arch, "windows", os_major=int(version.win32Major),
                          os_minor=int(version.win32Minor), os_build=int(version.buildNumber),
                          **extra)  # type: ignore[arg-type]

    def misc_info(self) -> Optional[MiscInfo]:
        return MiscInfo(process_id=self.process_id)

    def command(self, text: str) -> str:
        """A debugger command's output (``dbgCommand``), for transcript builders."""
        return str(self.pykd.dbgCommand(text))

    # ---- threads ------------------------------------------------------------------------------
    def threads(self) -> List[Thread]:
        if "threads" not in self._cache:
            self._cache["threads"] = self._build_threads()
        return list(self._cache["threads"])

    def _build_threads(self) -> List[Thread]:
        from dataclasses import replace

        from toolkit.targets.minidump.wow64 import wow64_state
        from toolkit.targets.pykd.text import parse_suspend_counts
        p = self.pykd
        current = self._call(p.getCurrentThread)
        wow64 = self.is_wow64()
        # `~` prints each thread's suspend count (a live session's count includes the
        # debugger's own suspension, as WinDbg shows it); it has no priority.
        suspend = {} if self.is_kernel else parse_suspend_counts(
            str(self._call(p.dbgCommand, "~") or ""))
        out = []
        try:
            for teb in p.getProcessThreads():
                teb = int(teb)
                p.setCurrentThread(teb)
                tid = int(p.getThreadSystemID())
                regs = self._registers()
                start, end = self._stack_range(teb, regs)
                thread = Thread(tid=tid, teb=teb or None, stack_start=start, stack_end=end,
                                registers=regs, suspend_count=suspend.get(tid))
                if wow64 and teb:
                    teb32, regs32 = wow64_state(self, teb)
                    thread = replace(thread, wow64_teb=teb32, wow64_registers=regs32)
                out.append(thread)
        finally:
            if current is not None:
                p.setCurrentThread(current)
        return out

    def _registers(self) -> Optional[Registers]:
        """The current thread's native context; a WOW64 session in x86 mode is switched to
        AMD64 for the read and back, so the 64-bit context is what ``registers`` holds."""
        p = self.pykd
        mode = self._call(p.getCPUMode)
        switch = self._arch is Arch.AMD64 and mode is not None and mode != p.CPUType.AMD64
        if switch:
            p.setCPUMode(p.CPUType.AMD64)
        try:
            values = {}
            for name in REGISTER_NAMES.get(self._arch, ()):
                value = self._call(p.reg, name)
                if value is not None:
                    values[name] = int(value) & ((1 << 64) - 1)
        finally:
            if switch:
                p.setCPUMode(mode)
        return Registers(self._arch, values) if values else None

    def _stack_range(self, teb: int, regs: Optional[Registers]) -> Tuple[Optional[int],
                                                                         Optional[int]]:
        sp = regs.sp if regs else None
        stack_base = None
        if teb:
            try:
                stack_base = self.read_pointer(teb + self.pointer_size)  # NT_TIB.StackBase
            except DumpkitError:
                stack_base = None
        region = self._region_at(sp) if sp is not None else None
        if region is None:
            return None, None
        start, end = region
        if stack_base is not None and start < stack_base <= end:
            end = stack_base
        return start, end

    # ---- modules ------------------------------------------------------------------------------
    def modules(self) -> List[Module]:
        if "modules" not in self._cache:
            self._cache["modules"] = self._build_modules()
        return list(self._cache["modules"])

    def _engine_modules(self) -> List[Any]:
        if "engine_modules" not in self._cache:
            self._cache["engine_modules"] = list(self.pykd.getModulesList())
        return self._cache["engine_modules"]

    def _build_modules(self) -> List[Module]:
        out = []
        for m in self._engine_modules():
            if self._call(m.unloaded):
                continue
            base, size = int(m.begin()), int(m.size())
            module = Module(base=base, size=size, path=str(m.image() or m.name()),
                            timestamp=self._int(m.timestamp), checksum=self._int(m.checksum),
                            size_of_image=size, version=self._version(m))
            out.append(self._with_debug_id(module))
        return out

    def _with_debug_id(self, module: Module) -> Module:
        """PDB GUID/age from the debug directory in memory, else the engine's ``!lmi``."""
        from dataclasses import replace
        from toolkit.targets.pe.image import image_in_target
        try:
            image = image_in_target(self, module)
        except DumpkitError:
            image = None
        if image is not None and image.debug_id is not None:
            return replace(module, debug_id=image.debug_id, pdb_name=image.pdb_name,
                           debug_id_source="image")
        found = parse_lmi_codeview(self._call(self.pykd.dbgCommand,
                                              f"!lmi {module.base:#x}") or "")
        if found is not None:
            return replace(module, debug_id=found[0], pdb_name=found[1],
                           debug_id_source="engine")
        self._problems.append(Problem("module.no_codeview", f"{module.name}: no CodeView record"))
        return module

    def _version(self, m: Any) -> Optional[str]:
        version = self._call(m.getVersion)
        if not version:
            return None
        return ".".join(str(int(v)) for v in version)

    def unloaded_modules(self) -> List[UnloadedModule]:
        out = []
        for m in self._engine_modules():
            if self._call(m.unloaded):
                out.append(UnloadedModule(int(m.begin()), int(m.size()),
                                          str(m.image() or m.name()),
                                          self._int(m.timestamp), self._int(m.checksum)))
        return out

    def module_at(self, address: int) -> Optional[Module]:
        if "sorted" not in self._cache:
            mods = sorted(self.modules(), key=lambda m: m.base)
            self._cache["sorted"] = (mods, [m.base for m in mods])
        mods, bases = self._cache["sorted"]
        i = bisect.bisect_right(bases, address) - 1
        return mods[i] if i >= 0 and mods[i].contains(address) else None

    def is_wow64(self) -> bool:
        """A 64-bit system whose process has the WOW64 layer loaded (the minidump rule)."""
        from toolkit.targets.minidump.wow64 import WOW64_DLLS

        if self._arch is not Arch.AMD64:
            return False
        names = {str(m.image() or m.name()).replace("\\", "/").rsplit("/", 1)[-1].lower()
                 for m in self._engine_modules()}
        return bool(names & WOW64_DLLS)

    # ---- exception ----------------------------------------------------------------------------
    def exception(self) -> Optional[ExceptionInfo]:
        if "exception" not in self._cache:
            self._cache["exception"] = self._build_exception()
        return self._cache["exception"]

    def _build_exception(self) -> Optional[ExceptionInfo]:
        p = self.pykd
        event = self._call(p.getLastEvent)
        if event is None or event.type != p.eventType.Exception:
            return None
        info = self._call(p.getLastException)
        if info is None:
            return None
        tid = self._call(p.getThreadSystemID, event.thread)
        regs = None
        current = self._call(p.getCurrentThread)
        try:
            p.dbgCommand(".ecxr")          # the exception context becomes the register context
            regs = self._registers()
        except Exception as exc:  # noqa: BLE001 - engine errors are pykd-specific types
            self._problems.append(Problem("exception.context", f".ecxr failed: {exc}"))
        finally:
            self._call(p.dbgCommand, ".cxr")
            if current is not None:
                self._call(p.setCurrentThread, current)
        code = int(info.exceptionCode) & 0xFFFFFFFF
        return ExceptionInfo(thread_id=int(tid) if tid is not None else 0, code=code,
                             name=exception_name(code), flags=int(info.exceptionFlags),
                             address=int(info.exceptionAddress),
                             parameters=tuple(int(x) for x in info.parameters), registers=regs,
                             record_chain=int(info.exceptionRecord) or None)

    # ---- what pykd does not document --------------------------------------------------------
    def handles(self) -> Optional[List[Handle]]:
        """The process's handles as ``!handle 0 f`` prints them (user mode only; a dump written
        without handle data, or a kernel session, gives None like a dump without the stream)."""
        if "handles" not in self._cache:
            from toolkit.targets.pykd.text import parse_handles
            text = None if self.is_kernel else self._call(self.pykd.dbgCommand, "!handle 0 f")
            self._cache["handles"] = parse_handles(str(text)) if text else None
        handles = self._cache["handles"]
        return None if handles is None else list(handles)

    def memory_info(self) -> Optional[List[MemoryInfo]]:
        """None: pykd cannot rebuild VirtualQuery's table. ``findMemoryRegion`` walks only the
        engine's *valid* (readable) ranges, so reserved, free and no-access regions would be
        missing and a handler in them would read as "in no committed memory"; no documented
        call gives AllocationBase or AllocationProtect; and ``getVaProtect`` is the only one of
        getVaProtect/getVaState/getVaType that the pykd sources checked (pykd/pymod.cpp,
        python::def list) register — the other two exist in some pymemaccess.h versions only.
        A partial table would be a guess, so callers treat the engine like a dump without a
        MemoryInfoList (SEH rules say "unknown memory")."""
        return None

    # ---- memory -------------------------------------------------------------------------------
    def memory_regions(self) -> List[MemoryRegion]:
        """The engine's readable regions, walked with ``findMemoryRegion`` from address 0."""
        if "regions" not in self._cache:
            regions: List[MemoryRegion] = []
            address, limit = 0, 1 << (8 * self.pointer_size)
            while address < limit and len(regions) < MAX_REGIONS:
                found = self._region_at(address, nearest=True)
                if found is None:
                    break
                start, end = found
                if end <= address:
                    break
                regions.append(MemoryRegion(start, end - start))
                address = end
            self._cache["regions"] = regions
        return list(self._cache["regions"])

    def _region_at(self, address: int, nearest: bool = False) -> Optional[Tuple[int, int]]:
        """(start, end) of the region holding ``address`` (or the next one, when nearest)."""
        found = self._call(self.pykd.findMemoryRegion, address)
        if not found:
            return None
        start, size = int(found[0]), int(found[1])
        if not nearest and not start <= address < start + size:
            return None
        return start, start + size

    def read(self, address: int, size: int) -> bytes:
        if size <= 0:
            return b""
        try:
            data = bytes(self.pykd.loadBytes(address, size))
        except Exception:  # noqa: BLE001 - pykd.MemoryException and engine errors alike
            raise UnreadableMemory(address, size) from None
        if len(data) != size:
            raise UnreadableMemory(address, size)
        return data

    def is_readable(self, address: int, size: int = 1) -> bool:
        if size <= 0:
            return True
        page = 0x1000
        probes = {address, address + size - 1}
        probes.update(range((address // page + 1) * page, address + size, page))
        return all(self._call(self.pykd.isValid, a) for a in sorted(probes))

    def read_pointer(self, address: int) -> int:
        if self._call(self.pykd.ptrSize) == self.pointer_size:
            try:
                return int(self.pykd.ptrPtr(address))
            except Exception:  # noqa: BLE001
                raise UnreadableMemory(address, self.pointer_size) from None
        return int.from_bytes(self.read(address, self.pointer_size), "little")

    # ---- symbols (the engine's) ---------------------------------------------------------------
    def engine_symbol(self, address: int) -> Optional[Tuple[str, str, int]]:
        """(module, symbol, displacement) when the engine knows a symbol at ``address``."""
        found = self._call(self.pykd.findSymbolAndDisp, address)
        if not found or len(found) < 3 or not found[1]:
            return None
        return str(found[0]), str(found[1]), int(found[2])

    def engine_source_line(self, address: int) -> Optional[Tuple[str, int]]:
        """(file, line) the engine has for ``address`` (``getSourceLine``), or None."""
        found = self._call(self.pykd.getSourceLine, address)
        if not found or len(found) < 2 or not found[0]:
            return None
        return str(found[0]), int(found[1])

    # ---- helpers ------------------------------------------------------------------------------
    @staticmethod
    def _call(fn: Any, *args: Any) -> Any:
        """``fn(*args)``, or None when the engine raises (pykd raises its own error types)."""
        try:
            return fn(*args)
        except Exception:  # noqa: BLE001 - pykd.DbgException, MemoryException, ...
            return None

    def _int(self, fn: Any) -> Optional[int]:
        value = self._call(fn)
        return None if value is None else int(value)

    def __repr__(self) -> str:
        return f"PykdTarget(arch={self._arch.value})"


__all__ = ["PykdTarget", "parse_lmi_codeview", "REGISTER_NAMES"]
