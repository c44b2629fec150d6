"""Our analysis in rust-minidump's ``minidump-stackwalk --json`` schema, so pipelines built on
rust-minidump (Socorro's processor, siggen's ``signify``) take dumpkit's output unchanged.

Schema: https://github.com/rust-minidump/rust-minidump/blob/master/minidump-processor/json-schema.md
(keys checked against minidump-stackwalk 0.25 on the corpus: tests/commands/test_analyze_peer.py).
Conventions copied from it: hex strings padded to pointer width, caller frames' ``offset`` is the
return address minus one (the call instruction's last byte) with ``module_offset`` and
``function_offset`` counted from there, trust names context/cfi/cfi_scan/frame_pointer/scan (our
``scan_callsite`` is a scan to rust-minidump), ``system_info.os`` is "Windows NT".
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from toolkit.model.target import Module, SystemInfo, Target, Thread
from toolkit.unwind.trust import Frame, Trust

# The registers rust-minidump lists for the crashing thread's frame 0 (its "valid" set).
_REGISTERS = {
    4: {"eax": "eax", "ebx": "ebx", "ecx": "ecx", "edx": "edx", "esi": "esi", "edi": "edi",
        "ebp": "ebp", "esp": "esp", "eip": "eip", "efl": "eflags"},
    8: {r: r for r in ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10",
                       "r11", "r12", "r13", "r14", "r15", "rip")},
}

_TRUST = {Trust.CONTEXT: "context", Trust.CFI: "cfi", Trust.CFI_SCAN: "cfi_scan",
          Trust.FRAME_POINTER: "frame_pointer", Trust.SCAN_CALLSITE: "scan", Trust.SCAN: "scan"}


def hx(value: Optional[int], ptr: int) -> Optional[str]:
    if value is None:
        return None
    fast = _HEX.get(ptr)
    if fast is not None:                 # every address and register of the document
        return fast[1] % (value & fast[0])
    return f"0x{value & ((1 << (8 * ptr)) - 1):0{ptr * 2}x}"


_HEX = {4: (0xFFFFFFFF, "0x%08x"), 8: (0xFFFFFFFFFFFFFFFF, "0x%016x")}


def frame_json(frame: Frame, loc: Any, ptr: int, with_registers: bool) -> Dict[str, Any]:
    caller = frame.trust is not Trust.CONTEXT
    at = frame.ip - 1 if caller else frame.ip
    module = loc.module if loc is not None else None
    base = loc.module_base if loc is not None else None
    function = loc.symbol if loc is not None else None
    doc: Dict[str, Any] = {
        "file": loc.file if loc is not None and function else None,
        "frame": frame.index,
        "function": function,
        "function_offset": hx(loc.displacement - (1 if caller else 0), 4)
        if function else None,
        "inlines": ([{"file": i.file, "function": i.function, "line": i.line}
                     for i in loc.inlines] or None) if loc is not None else None,
        "line": loc.line if loc is not None and function else None,
        "missing_symbols": bool(module) and getattr(loc.status, "value", "") in ("missing",
                                                                                 "export"),
        "module": module,
        "module_offset": hx(at - base, ptr) if base is not None else None,
        "offset": hx(at, ptr),
        "trust": _TRUST.get(frame.trust, "scan"),
        "unloaded_modules": None,
    }
    if with_registers:
        names = _REGISTERS.get(ptr)
        regs = frame.registers
        if names is None:                       # arm64: every register the context holds
            doc["registers"] = {k: hx(v, ptr) for k, v in sorted(regs.items())}
        else:
            doc["registers"] = {out: hx(regs[ours], ptr) for ours, out in
                                sorted(names.items(), key=lambda kv: kv[1]) if ours in regs}
    return doc


def thread_json(thread: Thread, stack: Any, ptr: int, crashing: bool = False) -> Dict[str, Any]:
    """One ``threads[]`` entry; the ``crashing_thread`` copy adds frame 0's registers."""
    frames: List[Dict[str, Any]] = []
    if stack is not None:
        frames = [frame_json(f, loc, ptr, with_registers=crashing and f.index == 0)
                  for f, loc in zip(stack.frames, stack.locations)]
    return {"frame_count": len(frames), "frames": frames, "last_error_value": None,
            "thread_id": thread.tid, "thread_name": thread.name}


def module_json(module: Module, ptr: int, symbols: Any, on_stack: bool = True) -> Dict[str, Any]:
    """One ``modules[]`` entry. rust-minidump reports symbols only for modules some frame is
    in: ``loaded_symbols`` when a symbol file was loaded, ``missing_symbols`` when it was
    looked for and not found; modules no frame touches get neither, whatever our scanner
    consulted on the way."""
    status = getattr(getattr(symbols, "status", None), "value", None)
    loaded = on_stack and status in ("exact", "mismatched") and \
        getattr(symbols, "kind", None) in ("pdb", "sym")
    symbols = symbols if on_stack else None
    return {
        "base_addr": hx(module.base, ptr),
        "cert_subject": None,
        "code_id": module.code_id.lower() if module.code_id else None,
        "corrupt_symbols": False,
        "debug_file": _basename(module.pdb_name) or "",          # rust-minidump: "" and
        "debug_id": str(module.debug_id) if module.debug_id else "0" * 33,   # zeros if none
        "end_addr": hx(module.end, ptr),
        "filename": module.name,
        "loaded_symbols": loaded,
        "missing_symbols": symbols is not None and not loaded,
        "symbol_url": None,
        "version": module.version,
    }


def _basename(path: Optional[str]) -> Optional[str]:
    """rust-minidump names the debug file without the build machine's directories."""
    if path is None:
        return None
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def system_json(s: SystemInfo, cpu_info: Optional[str] = None) -> Dict[str, Any]:
    ver = s.os_version or ""
    if s.csd_version:
        ver = f"{ver} {s.csd_version}"
    return {"cpu_arch": s.arch.value, "cpu_count": s.processor_count,
            "cpu_info": cpu_info, "cpu_microcode_version": None,
            "os": "Windows NT" if s.platform == "windows" else s.platform, "os_ver": ver or None}


def stackwalk_document(target: Target, *, threads: Sequence[Thread], stacks: Dict[int, Any],
                       crashing_index: Optional[int], crash_info: Dict[str, Any],
                       symbols: Dict[int, Any]) -> Dict[str, Any]:
    """The whole ``minidump-stackwalk --json`` object. ``stacks`` maps tid -> ThreadStack,
    ``symbols`` maps module base -> ModuleSymbols (absent: not looked up)."""
    ptr = target.pointer_size
    modules = list(target.modules())                  # the dump's order, as rust-minidump keeps
    thread_docs = [thread_json(t, stacks.get(t.tid), ptr) for t in threads]
    crashing = None
    if crashing_index is not None:
        t = threads[crashing_index]
        crashing = dict(thread_json(t, stacks.get(t.tid), ptr, crashing=True),
                        threads_index=crashing_index)
    main = _main_module(target, modules)
    framed = {loc.module_base for st in stacks.values() for loc in st.locations
              if loc is not None and loc.module_base is not None}
    misc = target.misc_info()
    doc: Dict[str, Any] = {
        "crash_info": dict(crash_info, crashing_thread=crashing_index),
        "crashing_thread": crashing,
        "handles": _handles(target),
        "linux_memory_map_count": None,
        "lsb_release": None,
        "mac_boot_args": None,
        "mac_crash_info": None,
        "main_module": main,
        "modules": [module_json(m, ptr, symbols.get(m.base), m.base in framed)
                    for m in modules],
        "modules_contains_cert_info": False,
        "pid": misc.process_id if misc is not None else target.process_id,
        "proc_limits": None,
        "soft_errors": None,
        "status": "OK",
        "system_info": system_json(target.system_info(), _cpu_info(target.system_info())),
        "thread_count": len(threads),
        "threads": thread_docs,
        "unloaded_modules": [{"base_addr": hx(u.base, ptr), "cert_subject": None,
                              "code_id": (f"{u.timestamp:08x}{u.size:x}"
                                          if u.timestamp is not None else None),
                              "end_addr": hx(u.base + u.size, ptr),
                              "filename": u.name} for u in target.unloaded_modules()],
    }
    if crashing is None:
        del doc["crashing_thread"]       # rust-minidump leaves the key out when nothing crashed
    return doc


def _main_module(target: Target, modules: List[Module]) -> Optional[int]:
    """rust-minidump's main_module: the first module listed in the dump (the executable)."""
    return 0 if modules else None


def _handles(target: Target) -> Optional[List[Dict[str, Any]]]:
    """HandleDataStream rows as rust-minidump lists them; None when the dump has none."""
    handles = target.handles()
    if handles is None:
        return None
    return [{"handle": h.handle, "object_name": h.object_name, "type_name": h.type_name}
            for h in handles]


def _cpu_info(s: SystemInfo) -> Optional[str]:
    if s.processor_level is None or s.processor_revision is None:
        return None
    model, stepping = s.processor_revision >> 8, s.processor_revision & 0xFF
    text = f"family {s.processor_level} model {model} stepping {stepping}"
    return f"{s.cpu_vendor} {text}" if s.cpu_vendor else text


__all__ = ["stackwalk_document", "frame_json", "thread_json", "module_json", "system_json"]
