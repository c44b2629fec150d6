"""The facts `dumpkit info` shows, gathered once from a Target so text and JSON agree."""

from __future__ import annotations

from dataclasses import dataclass
import os
from typing import Any, Dict, List, Optional, Tuple, Union

from toolkit.model.target import (Arch, ExceptionInfo, Module, Problem, SystemInfo, Target, Thread,
                                  UnloadedModule)

_PRODUCT = {1: "WinNt", 2: "LanManNt", 3: "ServerNt"}


@dataclass(frozen=True)
class DumpSummary:
    system: SystemInfo
    pointer_size: int
    process_id: Optional[int]
    exception: Optional[ExceptionInfo]
    threads: Tuple[Thread, ...]
    modules: Tuple[Module, ...]
    unloaded_modules: Tuple[UnloadedModule, ...]
    problems: Tuple[Problem, ...]
    handle_count: Optional[int]
    memory_region_count: int
    memory_info_count: Optional[int]

    @property
    def system_line(self) -> str:
        """vertarget's first line: ``Windows 10 Version 19041 MP (4 procs) x64``."""
        s = self.system
        parts = [_os_name(s)]
        if s.os_build is not None:
            parts.append(f"Version {s.os_build}")
        if s.csd_version:
            parts.append(f"({s.csd_version})")
        if s.processor_count:
            parts.append(f"{'MP' if s.processor_count > 1 else 'UP'} ({s.processor_count} procs)")
        parts.append(s.arch.value)
        if s.product_type in _PRODUCT:
            parts.append(f"Product: {_PRODUCT[s.product_type]}")
        return " ".join(parts)

    @property
    def exception_detail(self) -> Optional[str]:
        """The sentence .exr adds for access violations."""
        ex = self.exception
        if ex is None or ex.code != 0xC0000005 or len(ex.parameters) < 2:
            return None
        verb = {0: "read from", 1: "write to", 8: "execute"}.get(ex.parameters[0], "access")
        return f"Attempt to {verb} address {ex.parameters[1]:0{self.pointer_size * 2}x}"

    def to_json(self) -> Dict[str, Any]:
        ptr = self.pointer_size
        return {
            "system": {**self.system.to_json(), "description": self.system_line},
            "pointer_size": ptr,
            "process_id": self.process_id,
            "exception": ({**self.exception.to_json(ptr), "detail": self.exception_detail}
                          if self.exception else None),
            "threads": [t.to_json(ptr) for t in self.threads],
            "modules": [{**m.to_json(ptr), "symbol_status": "deferred"} for m in self.modules],
            "unloaded_modules": [u.to_json(ptr) for u in self.unloaded_modules],
            "handle_count": self.handle_count,
            "memory_region_count": self.memory_region_count,
            "memory_info_count": self.memory_info_count,
            "problems": [p.to_json() for p in self.problems],
        }


def summarize(target: Target) -> DumpSummary:
    handles = target.handles()
    info = target.memory_info()
    return DumpSummary(
        system=target.system_info(),
        pointer_size=target.pointer_size,
        process_id=target.process_id,
        exception=target.exception(),
        threads=tuple(target.threads()),
        modules=tuple(sorted(target.modules(), key=lambda m: m.base)),
        unloaded_modules=tuple(target.unloaded_modules()),
        problems=tuple(target.problems),
        handle_count=None if handles is None else len(handles),
        memory_region_count=len(target.memory_regions()),
        memory_info_count=None if info is None else len(info),
    )


def summarize_file(path: Union[str, "os.PathLike[str]"]) -> Optional[DumpSummary]:
    """``summarize(open_target(path))`` for a clean minidump, through the struct-only reader, or
    None when the dump needs the full reader (compressed, corrupt, WOW64, images to read from
    memory, anything with a problem the full reader would phrase: see
    ``toolkit.targets.minidump.structread``). ``dumpkit info`` tries this first: it costs a
    fraction of the full reader's start-up, and its answers are the full reader's
    (tests/toolkit/test_minidump_structread.py)."""
    import struct
    from toolkit.targets.minidump.structread import (WOW64_DLLS, NeedsFullReader, StructDump,
                                                     contains)
    try:
        with StructDump(path) as d:
            system = d.system_info()
            arch = system.arch
            misc = d.misc_info()
            exception = d.exception(arch)
            listed = d.modules()
            if arch is Arch.AMD64 and {m.name.lower() for m in listed} & WOW64_DLLS:
                raise NeedsFullReader("WOW64 threads read their 32-bit state from memory")
            threads, problems = d.threads(arch)
            ranges, overlapped = d.memory_ranges()
            for m in listed:
                if not m.fits_address_space:
                    raise NeedsFullReader("module outside the address space")
                if m.debug_id is None and not m.cv_record:
                    # the full reader reads the image: its memory map's problems join the list
                    if overlapped or contains(ranges, m.base):
                        raise NeedsFullReader("module image in memory, or memory to judge")
                    problems.append(Problem("module.no_codeview", f"{m.name}: no CodeView record"))
            return DumpSummary(
                system=system, pointer_size=arch.pointer_size,
                process_id=misc.process_id if misc else None, exception=exception,
                threads=tuple(threads), modules=tuple(sorted(listed, key=lambda m: m.base)),
                unloaded_modules=tuple(d.unloaded_modules()), problems=tuple(problems),
                handle_count=d.handle_count(), memory_region_count=len(ranges),
                memory_info_count=d.memory_info_count())
    except (NeedsFullReader, OSError, ValueError, struct.error):
        return None


def _os_name(s: SystemInfo) -> str:
    if s.platform != "windows":
        return s.platform.capitalize()
    known: List[Tuple[Tuple[int, int], str]] = [
        ((10, 0), "Windows 10" if (s.os_build or 0) < 22000 else "Windows 11"),
        ((6, 3), "Windows 8.1"), ((6, 2), "Windows 8"), ((6, 1), "Windows 7"),
        ((6, 0), "Windows Vista"), ((5, 2), "Windows Server 2003"), ((5, 1), "Windows XP"),
        ((5, 0), "Windows 2000"),
    ]
    for (major, minor), name in known:
        if (s.os_major, s.os_minor) == (major, minor):
            return name
    return f"Windows {s.os_major}.{s.os_minor}" if s.os_major is not None else "Windows"
