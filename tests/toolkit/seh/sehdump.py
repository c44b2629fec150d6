"""Build SEH test dumps from a real one: the Wine crash dump's thread, TEB, stack and module
images, with records patched in, written back out as a new minidump with our construct layouts.

``SehScene.from_target`` copies what the chain needs (TEB page, the stack between StackLimit and
StackBase that the dump holds, each module's header page and the pages asked for); tests patch
bytes (records, TEB fields, image headers), punch holes, add a MemoryInfoList, then ``build()``.
"""

from __future__ import annotations

import struct
from typing import Dict, Iterable, List, Optional, Tuple

from parsers.minidump_memory import MINIDUMP_MEMORY_INFO_DTYPE, build_memory_info_list
from parsers.minidump_modules import MINIDUMP_MODULE
from parsers.minidump_threads import MINIDUMP_THREAD
from parsers.nt_tib import NT_TIB32
from tests.toolkit.minidump_builder import build_minidump, minidump_string, system_info
from toolkit.targets.minidump import streams as streams
from toolkit.model.errors import UnreadableMemory

PAGE = 0x1000
THREAD_LIST, MODULE_LIST, MEMORY_LIST, SYSTEM_INFO, MEMORY_INFO_LIST = 3, 4, 5, 7, 16
EMPTY_VERSION = dict(dwSignature=0, dwStrucVersion=0, dwFileVersionMS=0, dwFileVersionLS=0,
                     dwProductVersionMS=0, dwProductVersionLS=0, dwFileFlagsMask=0,
                     dwFileFlags={}, dwFileOS=0, dwFileType=0, dwFileSubtype=0, dwFileDateMS=0,
                     dwFileDateLS=0)


class SehScene:
    def __init__(self, tid: int, teb: int, context: bytes, modules, pages: Dict[int, bytearray]):
        self.tid, self.teb, self.context, self.modules = tid, teb, context, list(modules)
        self.pages = pages                       # page address -> 0x1000 bytes
        self.memory_info: Optional[List[Tuple[int, int, int, int, int]]] = None

    @classmethod
    def from_target(cls, target, extra: Iterable[int] = (), whole: Iterable[str] = ()) -> "SehScene":
        """The exception thread's world; ``extra`` VAs add their pages, ``whole`` module names
        add entire images."""
        thread = target.threads()[0]
        raw = next(t for t in streams.thread_records(target.file) if t.ThreadId == thread.tid)
        loc = raw.ThreadContext
        context = bytes(target.file.data[loc.Rva:loc.Rva + loc.DataSize])
        tib = NT_TIB32.parse(target.read(thread.teb, NT_TIB32.sizeof()))
        wanted = set(range(thread.teb & ~0xFFF, thread.teb + 0x1000, PAGE))
        wanted |= set(range(tib.StackLimit, tib.StackBase, PAGE))
        names = {n.lower() for n in whole}
        for m in target.modules():
            end = m.end if m.name.lower() in names else m.base + PAGE
            wanted |= set(range(m.base, end, PAGE))
        wanted |= {va & ~0xFFF for va in extra}
        pages = {}
        for page in sorted(wanted):
            try:
                pages[page] = bytearray(target.read(page, PAGE))
            except UnreadableMemory:
                continue
        return cls(thread.tid, thread.teb, context, target.modules(), pages)

    # ---- patching ------------------------------------------------------------------------
    def write(self, va: int, data: bytes) -> None:
        for i, b in enumerate(data):
            self.pages[(va + i) & ~0xFFF][(va + i) & 0xFFF] = b

    def write32(self, va: int, *values: int) -> None:
        self.write(va, struct.pack(f"<{len(values)}I", *values))

    def read32(self, va: int) -> int:
        return struct.unpack_from("<I", self.pages[va & ~0xFFF], va & 0xFFF)[0]

    def record(self, va: int, next_: int, handler: int) -> None:
        self.write32(va, next_, handler)

    def drop_page(self, va: int) -> None:
        self.pages.pop(va & ~0xFFF, None)

    def add_page(self, va: int, fill: bytes = b"\0") -> None:
        self.pages.setdefault(va & ~0xFFF, bytearray(fill * PAGE))

    # ---- output --------------------------------------------------------------------------
    def _runs(self) -> List[Tuple[int, bytes]]:
        runs: List[Tuple[int, bytearray]] = []
        for page in sorted(self.pages):
            if runs and runs[-1][0] + len(runs[-1][1]) == page:
                runs[-1][1].extend(self.pages[page])
            else:
                runs.append((page, bytearray(self.pages[page])))
        return [(a, bytes(b)) for a, b in runs]

    def build(self) -> bytes:
        runs = self._runs()
        esp = struct.unpack_from("<I", self.context, 0xC4)[0]       # CONTEXT_X86.Esp
        placed: Dict[int, int] = {}                                  # run start -> file offset

        def memory(rva: int) -> bytes:
            data_at = rva + 4 + 16 * len(runs)
            table, blobs = struct.pack("<I", len(runs)), b""
            for a, d in runs:
                placed[a] = data_at + len(blobs)
                table += struct.pack("<QII", a, len(d), placed[a])
                blobs += d
            return table + blobs

        def threads(rva: int) -> bytes:
            # The thread's stack descriptor: from ESP's page to the end of the run holding it.
            stack = dict(StartOfMemoryRange=0, Memory=dict(DataSize=0, Rva=0))
            for a, d in runs:
                if a <= esp < a + len(d):
                    start = esp & ~0xFFF
                    stack = dict(StartOfMemoryRange=start, Memory=dict(
                        DataSize=a + len(d) - start, Rva=placed[a] + start - a))
            ctx_at = rva + 4 + MINIDUMP_THREAD.sizeof()
            return struct.pack("<I", 1) + MINIDUMP_THREAD.build(dict(
                ThreadId=self.tid, SuspendCount=0, PriorityClass=0x20, Priority=0, Teb=self.teb,
                Stack=stack, ThreadContext=dict(DataSize=len(self.context), Rva=ctx_at))) \
                + self.context

        def modules(rva: int) -> bytes:
            n = len(self.modules)
            at = rva + 4 + n * MINIDUMP_MODULE.sizeof()
            entries, tail = b"", b""
            for m in self.modules:
                name = minidump_string(m.path)
                cv = m.cv_record or b""
                name_at, cv_at = at + len(tail), at + len(tail) + len(name)
                tail += name + cv
                entries += MINIDUMP_MODULE.build(dict(
                    BaseOfImage=m.base, SizeOfImage=m.size, CheckSum=m.checksum or 0,
                    TimeDateStamp=m.timestamp or 0, ModuleNameRva=name_at,
                    VersionInfo=EMPTY_VERSION, CvRecord=dict(DataSize=len(cv), Rva=cv_at if cv else 0),
                    MiscRecord=dict(DataSize=0, Rva=0), Reserved0=0, Reserved1=0))
            return struct.pack("<I", n) + entries + tail

        parts = [(SYSTEM_INFO, system_info("PROCESSOR_ARCHITECTURE_INTEL")), (MEMORY_LIST, memory),
                 (THREAD_LIST, threads), (MODULE_LIST, modules)]
        if self.memory_info is not None:
            import numpy as np
            rows = np.zeros(len(self.memory_info), dtype=MINIDUMP_MEMORY_INFO_DTYPE)
            for i, (base, size, state, protect, type_) in enumerate(self.memory_info):
                rows[i]["BaseAddress"], rows[i]["AllocationBase"] = base, base
                rows[i]["AllocationProtect"], rows[i]["RegionSize"] = protect, size
                rows[i]["State"], rows[i]["Protect"], rows[i]["Type"] = state, protect, type_
            blob = build_memory_info_list(rows)
            parts.append((MEMORY_INFO_LIST, lambda rva: blob))
        return build_minidump(parts)


def find_gadget(target, module, pattern=None) -> Optional[int]:
    """The first pop r32; pop r32; ret in ``module``'s readable image pages."""
    import re
    rx = pattern or re.compile(rb"[\x58-\x5f][\x58-\x5f]\xc3")
    for page in range(module.base + PAGE, module.end, PAGE):
        try:
            data = target.read(page, PAGE)
        except UnreadableMemory:
            continue
        m = rx.search(data)
        if m:
            return page + m.start()
    return None


def pefile_handlers(path) -> List[int]:
    """The SafeSEH table of a PE file as pefile reads it (an independent reader)."""
    import pefile
    ref = pefile.PE(str(path))
    s = ref.DIRECTORY_ENTRY_LOAD_CONFIG.struct
    raw = ref.get_data(s.SEHandlerTable - ref.OPTIONAL_HEADER.ImageBase, 4 * s.SEHandlerCount)
    return [int.from_bytes(raw[i:i + 4], "little") for i in range(0, len(raw), 4)]
