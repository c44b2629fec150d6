"""``analyze``: the one-shot crash report of one dump, like WinDbg's ``!analyze -v`` and
minidump-stackwalk's default report, and the crash's identity (bucket, Socorro signature).

Steps, each its own module: the exception in words (``exception``), what the faulting access
touched (``access``), the faulting instruction (``instruction``), every thread's stack
(``toolkit.stackwalk``) and the symbol status of each module on the crashing stack, x86 SEH
verdicts (``toolkit.seh``) under the OS's policy, the wait chains (``toolkit.waitgraph``) when
there is no crash to explain, and last the identity: ``bucket`` and ``signature`` (siggen over
our ``minidump-stackwalk``-schema document, ``stackwalk_format``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Optional, Tuple

from toolkit.model.errors import DumpkitError
from toolkit.model.target import Arch, Problem, Target, Thread
from toolkit.triage.access import AccessAnalysis, analyze_access
from toolkit.triage.bucket import blamed_frame, frame_label, make_bucket
from toolkit.triage.exception import (BREAKPOINT, WX86_BREAKPOINT, ExceptionSummary,
                                      summarize_exception)
from toolkit.triage.instruction import Instruction, disassemble
from toolkit.triage.signature import Signature, socorro_signature
from toolkit.triage.symbol_status import ModuleSymbolStatus, module_symbol_status
from toolkit.triage.stackwalk_format import stackwalk_document

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Analysis:
    os: str
    arch: str
    exception_code: Optional[int]
    exception_name: Optional[str]
    bucket: str
    socorro_signature: str
    crashing_module: Optional[str]
    crashing_module_version: Optional[str]
    dump_timestamp: Optional[int]
    pointer_size: int = 8
    failure_class: str = ""
    exception: Optional[ExceptionSummary] = None
    access: Optional[AccessAnalysis] = None
    instruction: Optional[Instruction] = None
    crashing_thread_id: Optional[int] = None
    stack: Any = None                               # toolkit.stackwalk ThreadStack
    symbol_status: Tuple[ModuleSymbolStatus, ...] = ()
    seh: Any = None                                 # toolkit.seh ExchainReport (x86)
    seh_policy: Optional[str] = None
    wait_analysis: Any = None                       # toolkit.waitgraph DeadlockReport
    signature: Optional[Signature] = None
    stackwalk: Dict[str, Any] = field(default_factory=dict, repr=False)
    problems: Tuple[Problem, ...] = ()

    def to_json(self) -> Dict[str, Any]:
        ptr = self.pointer_size
        return {
            "schema_version": SCHEMA_VERSION,
            "os": self.os,
            "arch": self.arch,
            "dump_timestamp": self.dump_timestamp,
            "exception_code": (f"0x{self.exception_code:08x}"
                               if self.exception_code is not None else None),
            "exception_name": self.exception_name,
            "exception": self.exception.to_json() if self.exception else None,
            "failure_class": self.failure_class,
            "bucket": self.bucket,
            "socorro_signature": self.socorro_signature,
            "signature": self.signature.to_json() if self.signature else None,
            "crashing_module": self.crashing_module,
            "crashing_module_version": self.crashing_module_version,
            "access": self.access.to_json(ptr) if self.access else None,
            "instruction": self.instruction.to_json(ptr) if self.instruction else None,
            "crashing_thread": (self.stack.to_json(ptr) if self.stack is not None else None),
            "symbol_status": [s.to_json() for s in self.symbol_status],
            "seh_policy": self.seh_policy,
            "seh": self.seh.to_json() if self.seh is not None else None,
            "wait_analysis": (self.wait_analysis.to_json()
                              if self.wait_analysis is not None else None),
            "problems": [p.to_json() for p in self.problems],
        }


def analyze_file(path: str, *, symbol_path: Optional[str] = None,
                 policy: Optional[str] = None, resolver: Any = None,
                 walk_all_threads: bool = True) -> Analysis:
    """Open ``path`` (plain or compressed) and analyze it; InputError subclasses on bad input.
    A caller analysing many dumps passes one ``resolver`` so symbols load once per process."""
    from toolkit.targets.open import open_target
    target = open_target(path)
    try:
        return analyze_target(target, symbol_path=symbol_path, policy=policy, resolver=resolver,
                              walk_all_threads=walk_all_threads)
    finally:
        close = getattr(target, "close", None)
        if close is not None:
            close()


def analyze_target(target: Target, *, symbol_path: Optional[str] = None,
                   policy: Optional[str] = None, resolver: Any = None,
                   walk_all_threads: bool = True) -> Analysis:
    """The full report of one target. ``resolver`` (a toolkit.symbols Resolver) wins over
    ``symbol_path``; ``policy`` overrides the SEH policy chosen from the OS version.

    ``walk_all_threads=False`` walks only the crashing thread when there is a crash (the
    report, bucket and signature need no other): about twice as fast on many-thread dumps; the
    ``stackwalk`` document then lists the other threads without frames. Hangs and break-ins
    always walk every thread (the wait-chain analysis reads them all)."""
    from toolkit.stackwalk.context import WalkContext
    from toolkit.stackwalk.walker import context_of, walk_thread
    from toolkit.symbols.resolver import Resolver

    if resolver is None:
        resolver = Resolver.from_symbol_path(symbol_path)
    problems: List[Problem] = list(target.problems)
    system = target.system_info()
    ptr = target.pointer_size
    exc = target.exception()
    threads = target.threads()
    ctx = WalkContext(target, resolver)
    crash_tid = exc.thread_id if exc is not None else (threads[0].tid if threads else None)
    hang = exc is None or (exc.code & 0xFFFFFFFF) in (BREAKPOINT, WX86_BREAKPOINT)
    stacks = {t.tid: walk_thread(ctx, t) for t in threads
              if walk_all_threads or hang or t.tid == crash_tid}
    crash_thread = next((t for t in threads if t.tid == crash_tid), None)
    stack = stacks.get(crash_tid) if crash_tid is not None else None

    summary = summarize_exception(target, exc) if exc is not None else None
    instruction, access = _fault(target, exc, _registers(target, crash_thread, context_of),
                                 problems)

    index = next((i for i, t in enumerate(threads) if t.tid == crash_tid), None) \
        if exc is not None else None
    doc = stackwalk_document(target, threads=threads, stacks=stacks, crashing_index=index,
                             crash_info=_crash_info(summary, access, instruction, exc, ptr),
                             symbols=_symbols_by_base(ctx, target, stacks))
    signature = socorro_signature(doc)

    locations = stack.locations if stack is not None else ()
    wait = None
    if summary is None or summary.kind == "breakpoint":
        wait = _wait_analysis(target, resolver, problems, ctx, stacks)
    blamed_index, blamed = blamed_frame(locations)
    deadlocked = _deadlock_blame(wait, stacks)
    if deadlocked is not None:
        blamed = deadlocked
    label = frame_label(blamed)
    module = target.module_at(blamed.address) if blamed is not None else None
    failure = _failure_class(summary, access, wait)
    seh, seh_policy = _seh(target, system, exc, policy, resolver, problems)
    return Analysis(
        os=_os_text(system), arch=target.arch.value,
        exception_code=summary.code if summary else None,
        exception_name=summary.name if summary else None,
        bucket=make_bucket(failure, summary.code if summary else None, label),
        socorro_signature=signature.signature,
        crashing_module=blamed.module if blamed is not None else None,
        crashing_module_version=module.version if module is not None else None,
        dump_timestamp=getattr(target, "timestamp", None),
        pointer_size=ptr, failure_class=failure, exception=summary, access=access,
        instruction=instruction, crashing_thread_id=crash_tid, stack=stack,
        symbol_status=_symbol_status(ctx, target, locations, resolver), seh=seh, seh_policy=seh_policy,
        wait_analysis=wait, signature=signature, stackwalk=doc,
        problems=tuple(problems) + tuple(ctx.problems))


def _fault(target: Target, exc: Any, regs: Dict[str, int], problems: List[Problem]
           ) -> Tuple[Optional[Instruction], Optional[AccessAnalysis]]:
    """The faulting instruction (at the context's IP) and what its access touched."""
    if exc is None:
        return None, None
    instruction: Optional[Instruction] = None
    ip = regs.get(target.arch.ip_register, exc.address) if regs else exc.address
    try:
        instruction = disassemble(target, ip, regs)
    except DumpkitError as err:
        problems.append(Problem("analyze.instruction", str(err)))
    operand = next((m.address for m in instruction.memory_accesses
                    if m.address is not None), None) if instruction else None
    return instruction, analyze_access(target, exc, operand)


def _registers(target: Target, thread: Optional[Thread], context_of: Any) -> Dict[str, int]:
    if thread is None:
        return {}
    regs, _ = context_of(target, thread)
    return regs or {}


def _crash_info(summary: Optional[ExceptionSummary], access: Optional[AccessAnalysis],
                instruction: Optional[Instruction], exc: Any, ptr: int) -> Dict[str, Any]:
    from toolkit.triage.stackwalk_format import hx
    if summary is None:
        return {"address": None, "adjusted_address": None, "assertion": None,
                "crash_inconsistencies": None, "instruction": None,
                "instruction_pointer_update": None, "memory_accesses": None,
                "possible_bit_flips": None, "type": None}
    address = access.address if access is not None else exc.address
    accesses = None
    if instruction is not None:
        accesses = [{"access_type": "read" if m.access == "read" else "write",
                     "address": hx(m.address, ptr), "size": m.size}
                    for m in instruction.memory_accesses if m.address is not None]
    return {"address": hx(address, ptr), "adjusted_address": None, "assertion": None,
            "crash_inconsistencies": [],
            "instruction": instruction.text if instruction is not None else None,
            "instruction_pointer_update": None, "memory_accesses": accesses,
            "possible_bit_flips": None, "type": summary.crash_type}


def _failure_class(summary: Optional[ExceptionSummary], access: Optional[AccessAnalysis],
                   wait: Any) -> str:
    if summary is None:
        if wait is not None and wait.cycles:
            return "APPLICATION_HANG_DEADLOCK"
        return "NO_EXCEPTION"
    if summary.kind == "access_violation" and access is not None:
        return access.failure_class
    if summary.kind == "fast_fail":
        detail = (summary.detail or "FAST_FAIL_UNKNOWN").replace("FAST_FAIL_", "", 1)
        return f"FAIL_FAST_{detail}"
    if summary.kind == "cpp_exception":
        return "CPP_EXCEPTION" + (f"_{summary.detail}" if summary.detail else "")
    if summary.kind == "breakpoint":
        if wait is not None and wait.cycles:
            return "BREAKPOINT_DEADLOCK"
        return "BREAKPOINT"
    if summary.kind == "stack_overflow":
        return "STACK_OVERFLOW"
    name = summary.name or "UNKNOWN_EXCEPTION"
    for prefix in ("EXCEPTION_", "STATUS_"):
        if name.startswith(prefix):
            name = name[len(prefix):]
    return f"APPLICATION_FAULT_{name}"


def _symbols_by_base(ctx: Any, target: Target, stacks: Dict[int, Any]) -> Dict[int, Any]:
    """ModuleSymbols of every module some frame is in (rust-minidump reports no others)."""
    framed = {loc.module_base for st in stacks.values() for loc in st.locations
              if loc is not None and loc.module_base is not None}
    found: Dict[int, Any] = {}
    for m in target.modules():
        if m.base in framed:
            syms = ctx.symbols(m)
            if syms is not None:
                found[m.base] = syms
    return found


def _symbol_status(ctx: Any, target: Target, locations: Any,
                   resolver: Any) -> Tuple[ModuleSymbolStatus, ...]:
    """Per module on the stack: ``exact`` (found, path in ``source``), ``export`` (names from
    the image's exports only), ``mismatched`` (a file of another id, used on --allow-mismatch),
    ``id_mismatch`` (a file of that name with another id was found and refused), ``missing``."""
    out: List[ModuleSymbolStatus] = []
    seen = set()
    for loc in locations:
        if loc is None or loc.module_base is None or loc.module_base in seen:
            continue
        seen.add(loc.module_base)
        module = target.module_at(loc.module_base)
        if module is None:
            continue
        found = module_symbol_status(module, ctx.symbols(module), resolver)
        if found.status == "missing" and loc.status.value == "export":
            found = replace(found, status="export")
        out.append(found)
    return tuple(out)


def _deadlock_blame(wait: Any, stacks: Dict[int, Any]) -> Any:
    """For a hang with a deadlock: the blamed frame of the cycle's threads whose label sorts
    first. Thread ids change from run to run, names do not, so the bucket stays stable."""
    if wait is None or not wait.cycles:
        return None
    found = []
    for node in wait.cycles[0].threads:
        tid = getattr(wait.graph.nodes[node], "tid", None)
        stack = stacks.get(tid) if tid is not None else None
        if stack is not None:
            _, loc = blamed_frame(stack.locations)
            if loc is not None:
                found.append((frame_label(loc), loc))
    return min(found, key=lambda item: item[0])[1] if found else None


def _wait_analysis(target: Target, resolver: Any, problems: List[Problem], ctx: Any,
                   stacks: Dict[int, Any]) -> Any:
    from toolkit.waitgraph.builders.minidump import build_from_target
    from toolkit.waitgraph.inputs import report_for_graphs
    try:
        graph = build_from_target(target, getattr(target, "path", "<target>"), resolver,
                                  ctx=ctx, stacks=stacks)
        return report_for_graphs([graph])
    except DumpkitError as err:
        problems.append(Problem("analyze.waitgraph", str(err)))
        return None


def _seh(target: Target, system: Any, exc: Any, policy: Optional[str], resolver: Any,
         problems: List[Problem]) -> Tuple[Any, Optional[str]]:
    """x86 (and WOW64) only: the crashing thread's SEH chain under the OS's policy."""
    is_wow64 = getattr(target, "is_wow64", None)
    wow64 = bool(is_wow64()) if callable(is_wow64) else False
    if exc is None or (target.arch is not Arch.X86 and not wow64):
        return None, None
    from toolkit.seh.exchain import exchain
    from toolkit.seh.policy import policy_for_os
    name = policy or policy_for_os(system.os_major, system.os_minor)
    try:
        return exchain(target, policy=name, thread_ids=[exc.thread_id], resolver=resolver), name
    except DumpkitError as err:
        if policy is not None and "unknown SEH policy" in str(err):
            raise
        problems.append(Problem("analyze.seh", str(err)))
        return None, name


def _os_text(system: Any) -> str:
    if system.platform != "windows":
        return system.platform
    version = system.os_version
    return f"Windows {version}" if version else "Windows"


__all__ = ["Analysis", "ModuleSymbolStatus", "analyze_target", "analyze_file", "SCHEMA_VERSION"]
