"""A STAND-IN for the ``pykd`` module, for tests on Linux: pykd exists only on Windows.

It is NOT pykd. It implements the few pykd 0.3.4 functions toolkit/targets/pykd/target.py and
toolkit/windbg.py call, with pykd's documented names and argument conventions, answered from a
minidump opened through ``toolkit.targets.open.open_target`` — the way WinDbg answers them after
``.opendump``. ``dbgCommand`` answers only the commands a test registered with
``_standin_commands`` (saved transcripts) plus ``.ecxr``/``.cxr``, ``!lmi`` and ``!handle 0 f``
(from the dump's handle stream) ``vertarget`` (from its SystemInfo stream) and ``~`` (its thread list), rendered in the layout WinDbg prints them. Helpers a test uses to set the stand-in up start with ``_standin``;
they are not pykd API and the backend must never call them.

Load it with importlib under the name ``pykd`` (do not put this directory on sys.path: other
tests would then see a ``pykd`` and take the in-debugger paths).
"""

from __future__ import annotations

import enum
from typing import Any, Dict, List, Optional, Tuple

from toolkit.model.errors import UnreadableMemory
from toolkit.model.target import Arch

__version__ = "0.3.4.15-standin"
version = __version__


class DbgException(Exception):
    """pykd's base error type."""


class MemoryException(DbgException):
    """pykd raises this for unreadable target memory."""


class CPUType(enum.Enum):
    I386 = 0x14C
    AMD64 = 0x8664


class eventType(enum.Enum):  # noqa: N801 - pykd's spelling
    Breakpoint = 0
    Exception = 1
    CreateThread = 2
    ExitThread = 3
    CreateProcess = 4
    ExitProcess = 5
    LoadModule = 6
    UnloadModule = 7


class systemVersion:  # noqa: N801
    def __init__(self, major: int, minor: int, build: int) -> None:
        self.win32Major, self.win32Minor, self.buildNumber = major, minor, build
        self.servicePack = 0
        self.buildString = ""


class exceptionInfo:  # noqa: N801
    def __init__(self, code: int, flags: int, record: int, address: int,
                 parameters: Tuple[int, ...]) -> None:
        self.firstChance = False
        self.exceptionCode, self.exceptionFlags = code, flags
        self.exceptionRecord, self.exceptionAddress = record, address
        self.parameters = list(parameters)


class debugEvent:  # noqa: N801
    def __init__(self, type_: eventType, process: int, thread: int) -> None:
        self.type, self.process, self.thread = type_, process, thread


class _State:
    target: Any = None
    current_thread: int = 0          # index into target.threads() (the debugger thread id)
    exception_context: bool = False
    cpu_mode: Optional[CPUType] = None
    kernel: bool = False
    windbg_ext: bool = True
    commands: Dict[str, str] = {}
    output: List[Tuple[str, bool]] = []
    calls: List[str] = []
    engine_symbols: Any = None       # None | symbol path (str) | [(start, end, name), ...]
    engine_resolver: Any = None


_S = _State()


# ---- stand-in set-up (not pykd API) -------------------------------------------------------------
def _standin_open(path: Optional[str], kernel: bool = False,
                  commands: Optional[Dict[str, str]] = None, windbg_ext: bool = True,
                  engine_symbols: Any = None) -> None:
    """Answer from the dump at ``path`` (None: a kernel session with only saved transcripts).

    ``engine_symbols`` is what the stand-in "engine" knows about names (findSymbolAndDisp,
    getSourceLine): None, module names only (no symbol files loaded); a symbol path string,
    names from the project's own Resolver over that path (so a test can check that engine
    answers reach the output unchanged); or a list of ``(start, end, name)`` ranges, a small
    table standing for symbols only the engine has."""
    from toolkit.targets.open import open_target
    _S.target = open_target(path) if path is not None else None
    _S.current_thread = 0
    _S.exception_context = False
    _S.cpu_mode = None
    _S.kernel = kernel
    _S.windbg_ext = windbg_ext
    _S.commands = dict(commands or {})
    _S.output = []
    _S.calls = []
    _S.engine_symbols = engine_symbols
    _S.engine_resolver = None


def _standin_output() -> List[Tuple[str, bool]]:
    return list(_S.output)


def _standin_calls() -> List[str]:
    return list(_S.calls)


def _t() -> Any:
    if _S.target is None:
        raise DbgException("no user-mode target in this stand-in session")
    return _S.target


# ---- engine ---------------------------------------------------------------------------------------
def isWindbgExt() -> bool:
    return _S.windbg_ext


def isKernelDebugging() -> bool:
    return _S.kernel


def isDumpAnalyzing() -> bool:
    return True


def is64bitSystem() -> bool:
    return _t().arch is Arch.AMD64


def ptrSize() -> int:
    if _S.cpu_mode is CPUType.I386:
        return 4
    return _t().pointer_size


def getSystemVersion() -> systemVersion:
    s = _t().system_info()
    if s.os_major is None:
        raise DbgException("no system version")
    return systemVersion(s.os_major, s.os_minor or 0, s.os_build or 0)


def getCPUMode() -> CPUType:
    if _S.cpu_mode is not None:
        return _S.cpu_mode
    return CPUType.AMD64 if _t().arch is Arch.AMD64 else CPUType.I386


def setCPUMode(mode: CPUType) -> None:
    _S.cpu_mode = mode


def dprintln(str: str, dml: bool = False) -> None:  # noqa: A002 - pykd's argument name
    _S.output.append((str, dml))


def dprint(str: str, dml: bool = False) -> None:  # noqa: A002
    _S.output.append((str, dml))


def dbgCommand(command: str, suppressOutput: bool = True) -> str:  # noqa: N803
    _S.calls.append(command)
    text = command.strip()
    if text in _S.commands:
        return _S.commands[text]
    if text == ".ecxr":
        if _t().exception() is None:
            raise DbgException("Unable to get exception context")
        _S.exception_context = True
        return ""
    if text == ".cxr":
        _S.exception_context = False
        return ""
    if text.startswith("!lmi "):
        return _lmi(int(text.split()[1], 0))
    if text == "!handle 0 f":
        return _handle_listing()
    if text == "vertarget":
        return _vertarget()
    if text == "~":
        return _thread_status()
    raise DbgException(f"stand-in has no saved output for {command!r}")


def _lmi(base: int) -> str:
    m = _t().module_at(base)
    if m is None:
        return f"{base:x} is not a valid address\n"
    lines = [f"Loaded Module Info: [{m.name}] ", f"   Base Address: {m.base:x}",
             f"     Image Name: {m.path}", f"           Size: {m.size:x}",
             "Debug Data Dirs: Type  Size     VA  Pointer"]
    if m.debug_id is not None and not m.debug_id.is_nb10:
        lines += [f"             CODEVIEW    0,      0,       0 RSDS - GUID: "
                  f"{{{str(m.debug_id.guid).upper()}}}",
                  f"               Age: {m.debug_id.age}, Pdb: {m.pdb_name}"]
    return "\n".join(lines) + "\n"


# Standard access rights as uext's !handle names them (the first line under GrantedAccess).
_STANDARD_RIGHTS = ((0x10000, "Delete"), (0x20000, "ReadControl"), (0x40000, "WriteDac"),
                    (0x80000, "WriteOwner"), (0x100000, "Synch"))


def _handle_listing() -> str:
    """``!handle 0 f`` as WinDbg prints it for a dump written with handle data (layout of the
    transcripts in corpus/transcripts: gavinshark/DeadLock_ReadMe.md, msdocs/-handle.md)."""
    handles = _t().handles()
    if handles is None:
        # No handle stream: the extension prints an error and no "N Handles" total.
        return "ERROR: !handle: extension exception 0x80004002.\n"
    lines: List[str] = []
    counts: Dict[str, int] = {}
    for h in handles:
        lines.append(f"Handle {h.handle:x}")
        if h.type_name is not None:
            lines.append(f"  Type         \t{h.type_name}")
            counts[h.type_name] = counts.get(h.type_name, 0) + 1
        lines.append(f"  Attributes   \t{h.attributes:x}")
        lines.append(f"  GrantedAccess\t{h.granted_access:#x}:")
        rights = [name for bit, name in _STANDARD_RIGHTS if h.granted_access & bit]
        lines.append("         " + (",".join(rights) or "None"))
        if h.type_name == "Mutant" and h.granted_access & 1:
            lines.append("         QueryState")
        lines.append(f"  HandleCount  \t{h.handle_count}")
        lines.append(f"  PointerCount \t{h.pointer_count}")
        lines.append(f"  Name         \t{h.object_name or '<none>'}")
        mutant = h.info("MiniMutantInformation2")
        if mutant is not None:
            pid, tid = mutant.fields.get("OwnerProcessId", 0), mutant.fields.get("OwnerThreadId", 0)
            lines.append("  Object Specific Information")
            if tid:
                lines += ["    Mutex is Owned", f"    Mutant Owner {pid:x}.{tid:x}"]
            else:
                lines.append("    Mutex is Free")
        else:
            lines.append("  No Object Specific Information available")
    lines.append(f"{len(handles)} Handles")
    lines.append("Type           \tCount")
    lines += [f"{name:<15}\t{count}" for name, count in counts.items()]
    return "\n".join(lines) + "\n"


_OS_NAMES = {(5, 1): "Windows XP", (6, 1): "Windows 7", (10, 0): "Windows 10"}
_PRODUCTS = {1: "WinNt", 2: "LanManNt", 3: "ServerNt"}


def _vertarget() -> str:
    """``vertarget``'s first lines as WinDbg prints them for a user dump, from the dump's
    SystemInfo stream ("Windows 7 Version 7601 (Service Pack 1) MP (2 procs) Free x64")."""
    s = _t().system_info()
    line = f"{_OS_NAMES.get((s.os_major, s.os_minor), 'Windows')} Version {s.os_build}"
    if s.csd_version:
        line += f" ({s.csd_version})"
    if s.processor_count:
        line += " UP" if s.processor_count == 1 else f" MP ({s.processor_count} procs)"
    line += " Free " + ("x64" if s.arch is Arch.AMD64 else "x86 compatible")
    lines = [line]
    if s.product_type in _PRODUCTS:
        lines.append(f"Product: {_PRODUCTS[s.product_type]}, suite: SingleUserTS")
    lines.append("Machine Name:")
    return "\n".join(lines) + "\n"


def _thread_status() -> str:
    """``~`` as WinDbg prints it, suspend counts from the dump's thread list."""
    pid = _t().process_id or 0
    lines = []
    for i, th in enumerate(_t().threads()):
        mark = "." if i == _S.current_thread else " "
        lines.append(f"{mark}{i:3d}  Id: {pid:x}.{th.tid:x} Suspend: {th.suspend_count or 0} "
                     f"Teb: {th.teb or 0:08x} Unfrozen")
    return "\n".join(lines) + "\n"


def getLastEvent() -> debugEvent:
    ex = _t().exception()
    if ex is None:
        return debugEvent(eventType.Breakpoint, 0, 0)
    tids = [t.tid for t in _t().threads()]
    return debugEvent(eventType.Exception, 0, tids.index(ex.thread_id)
                      if ex.thread_id in tids else 0)


def getLastException() -> exceptionInfo:
    ex = _t().exception()
    if ex is None:
        raise DbgException("last event is not an exception")
    return exceptionInfo(ex.code, ex.flags, ex.record_chain or 0, ex.address, ex.parameters)


# ---- processes and threads ------------------------------------------------------------------------
def getProcessSystemID(Id: int = -1) -> int:  # noqa: N803
    pid = _t().process_id
    if pid is None:
        raise DbgException("no process id")
    return pid


def getProcessThreads() -> List[int]:
    return [t.teb or 0 for t in _t().threads()]


def getCurrentThread() -> int:
    return _t().threads()[_S.current_thread].teb or 0


def setCurrentThread(offset: int) -> None:
    for i, t in enumerate(_t().threads()):
        if (t.teb or 0) == offset:
            _S.current_thread = i
            return
    raise DbgException(f"no thread at {offset:#x}")


def getThreadSystemID(Id: int = -1) -> int:  # noqa: N803
    threads = _t().threads()
    return threads[_S.current_thread if Id == -1 else Id].tid


def reg(name: Any) -> int:
    thread = _t().threads()[_S.current_thread]
    regs = thread.registers
    if _S.exception_context:
        regs = _t().exception().registers
    elif _S.cpu_mode is CPUType.I386 and _t().arch is Arch.AMD64:
        regs = thread.wow64_registers
    if regs is None or name not in regs.values:
        raise DbgException(f"register {name!r} not available")
    return regs.values[name]


# ---- memory ---------------------------------------------------------------------------------------
def loadBytes(offset: int, count: int, phyAddr: bool = False) -> List[int]:  # noqa: N803
    try:
        return list(_t().read(offset, count))
    except UnreadableMemory:
        raise MemoryException(f"Memory exception at {offset:#x}") from None


def ptrPtr(offset: int) -> int:
    return int.from_bytes(bytes(loadBytes(offset, ptrSize())), "little")


def isValid(offset: int) -> bool:
    return _t().is_readable(offset, 1)


def findMemoryRegion(offset: int) -> Tuple[int, int]:
    """(begin, length) of the region holding ``offset`` or the nearest one above it."""
    import bisect
    regions = _regions()
    starts = [r[0] for r in regions]
    i = bisect.bisect_right(starts, offset) - 1
    if i >= 0 and offset < regions[i][0] + regions[i][1]:
        return regions[i]
    if i + 1 < len(regions):
        return regions[i + 1]
    raise MemoryException(f"no memory region at or above {offset:#x}")


def _regions() -> List[Tuple[int, int]]:
    t = _t()
    cached = getattr(t, "_standin_regions", None)
    if cached is None:
        cached = sorted((r.base, r.size) for r in t.memory_regions())
        t._standin_regions = cached
    return cached


# ---- modules and symbols --------------------------------------------------------------------------
class module:  # noqa: N801
    def __init__(self, where: Any) -> None:
        t = _t()
        found = None
        for m in t.modules():
            if (isinstance(where, str) and m.name.rsplit(".", 1)[0].lower() == where.lower()) \
                    or (not isinstance(where, str) and m.contains(where)):
                found = m
        if found is None:
            raise DbgException(f"module not found: {where!r}")
        self._m = found
        self._unloaded = False

    @classmethod
    def _of(cls, m: Any, unloaded: bool = False) -> "module":
        self = cls.__new__(cls)
        self._m, self._unloaded = m, unloaded
        return self

    def begin(self) -> int:
        return self._m.base

    def end(self) -> int:
        return self._m.base + self._m.size

    def size(self) -> int:
        return self._m.size

    def name(self) -> str:
        return self._m.name.rsplit(".", 1)[0]

    def image(self) -> str:
        return self._m.path

    def timestamp(self) -> int:
        if self._m.timestamp is None:
            raise DbgException("no timestamp")
        return self._m.timestamp

    def checksum(self) -> int:
        if self._m.checksum is None:
            raise DbgException("no checksum")
        return self._m.checksum

    def unloaded(self) -> bool:
        return self._unloaded

    def getVersion(self) -> Tuple[int, ...]:
        text = getattr(self._m, "version", None)
        if not text:
            raise DbgException("no version resource")
        return tuple(int(x) for x in text.split("."))


def getModulesList() -> List[module]:
    t = _t()
    return ([module._of(m) for m in t.modules()]
            + [module._of(u, unloaded=True) for u in t.unloaded_modules()])


def _engine_location(offset: int) -> Any:
    """The stand-in engine's Location for ``offset`` (see ``_standin_open``), or None."""
    m = _t().module_at(offset)
    if m is None:
        return None
    from toolkit.symbols.location import Location
    if isinstance(_S.engine_symbols, str):
        if _S.engine_resolver is None:
            from toolkit.symbols.cache import default_cache_dir
            from toolkit.symbols.resolver import Resolver
            # The engine is another program with its own symbol cache (WinDbg's), so what it
            # caches never changes where the project's resolver finds its symbols.
            _S.engine_resolver = Resolver.from_symbol_path(
                _S.engine_symbols, cache_dir=default_cache_dir() / "engine-standin")
        return _S.engine_resolver.lookup(m, offset)
    for start, end, name in _S.engine_symbols or ():
        if start <= offset < end:
            return Location(offset, m.name, m.base, name, offset - start)
    return Location(offset, m.name, m.base, None, offset - m.base)


def findSymbolAndDisp(offset: int) -> Tuple[str, str, int]:
    """(module, symbol, displacement); the symbol is "" when the engine has no name for it."""
    _S.calls.append(f"findSymbolAndDisp({offset:#x})")
    loc = _engine_location(offset)
    if loc is None:
        raise DbgException(f"no symbol at {offset:#x}")
    return loc.module.rsplit(".", 1)[0], loc.symbol or "", loc.displacement


def getSourceLine(offset: int = 0) -> Tuple[str, int, int]:
    """(file, line, displacement) of ``offset``; raises when the engine has no line for it."""
    loc = _engine_location(offset)
    if loc is None or not loc.file or not loc.line:
        raise DbgException(f"no line information at {offset:#x}")
    return loc.file, loc.line, 0


def findSymbol(offset: int, showDisplacement: bool = True) -> str:  # noqa: N803
    m = _t().module_at(offset)
    if m is None:
        return f"{offset:x}"
    return f"{m.name.rsplit('.', 1)[0]}+0x{offset - m.base:x}"

