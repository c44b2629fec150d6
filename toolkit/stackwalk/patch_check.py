"""Hot-patch safety (Ksplice's question): may these functions be replaced right now?

A function is unsafe to replace while any thread executes inside it (its IP is there) or will
return into it (a stack slot holds an address inside it). Like Ksplice's check_stack, every
pointer-sized slot from SP to the stack base counts, so a stale slot makes the verdict UNSAFE:
the check is conservative by design. Each piece of evidence says whether the slot value is
call-verified (preceded by a CALL ending exactly there: a real return address at some time) or
only possible (a pointer into the function that is no return address: a function pointer, a
stale value). A scan cut short (the bounds of toolkit.stackwalk.scan, or a stack the dump holds
only in part) clears nothing: with no evidence in the slots it saw, the thread is UNKNOWN, not
SAFE, and so is the whole answer unless another thread is UNSAFE.

Functions are given as ``module!name`` (extent from the module's symbols: the union of the
ranges the PDB or .sym assigns to the function; else, for an exported name, the .pdata entry
covering it) or ``module+start-end`` (hex offsets from the module base, end exclusive).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from toolkit.model.errors import InputError
from toolkit.model.hexfmt import hex_addr, hex_int
from toolkit.stackwalk.context import WalkContext
from toolkit.stackwalk.scan import StackBudget, call_lengths
from toolkit.model.target import Arch, Problem, Target


@dataclass(frozen=True)
class FunctionExtent:
    spec: str
    module: str
    start: int                      # absolute, inclusive
    end: int                        # absolute, exclusive
    source: str                     # "symbols" | "pdata" | "range"

    def to_json(self, ps: int) -> Dict[str, Any]:
        return {"spec": self.spec, "module": self.module, "start": hex_addr(self.start, ps),
                "end": hex_addr(self.end, ps), "size": hex_int(self.end - self.start),
                "source": self.source}


@dataclass(frozen=True)
class Evidence:
    function: str                   # the spec it falls in
    kind: str                       # "ip" | "slot"
    slot: Optional[int]             # None for the IP
    value: int
    call_verified: bool
    symbol: Optional[str]

    def to_json(self, ps: int) -> Dict[str, Any]:
        return {"function": self.function, "kind": self.kind, "slot": hex_addr(self.slot, ps),
                "value": hex_addr(self.value, ps), "call_verified": self.call_verified,
                "verdict": "ip" if self.kind == "ip" else
                ("return_address" if self.call_verified else "possible"),
                "symbol": self.symbol}


SAFE, UNSAFE, UNKNOWN = "SAFE", "UNSAFE", "UNKNOWN"
# A cut stack scan saw only some slots: no evidence in them clears nothing.
UNSEEN_SLOTS = ("scan.bounded", "scan.truncated")


@dataclass(frozen=True)
class ThreadVerdict:
    tid: int
    verdict: str                    # SAFE | UNSAFE (evidence, or no stack) | UNKNOWN (slots unseen)
    slots: int
    evidence: Tuple[Evidence, ...]
    problems: Tuple[Problem, ...] = ()

    @property
    def safe(self) -> bool:
        return self.verdict == SAFE

    def to_json(self, ps: int) -> Dict[str, Any]:
        return {"tid": self.tid, "tid_hex": hex_int(self.tid),
                "verdict": self.verdict, "slots": self.slots,
                "evidence": [e.to_json(ps) for e in self.evidence],
                "problems": [p.to_json() for p in self.problems]}


@dataclass(frozen=True)
class PatchCheckReport:
    arch: Arch
    pointer_size: int
    functions: Tuple[FunctionExtent, ...]
    threads: Tuple[ThreadVerdict, ...]
    problems: Tuple[Problem, ...] = ()

    @property
    def verdict(self) -> str:
        """UNSAFE when any thread is; else UNKNOWN when some thread's slots were not all seen;
        SAFE only when every thread is, and every thread could be checked."""
        verdicts = {t.verdict for t in self.threads}
        return UNSAFE if UNSAFE in verdicts else UNKNOWN if UNKNOWN in verdicts else SAFE

    @property
    def safe(self) -> bool:
        return self.verdict == SAFE

    def to_json(self) -> Dict[str, Any]:
        ps = self.pointer_size
        return {"arch": self.arch.value, "pointer_size": ps,
                "verdict": self.verdict,
                "functions": [f.to_json(ps) for f in self.functions],
                "threads": [t.to_json(ps) for t in self.threads],
                "problems": [p.to_json() for p in self.problems]}


def _module(ctx: WalkContext, name: str):
    module = ctx.modules.by_name(name)
    if module is None:
        raise InputError(f"no module {name!r} in the target")
    return module


def resolve_function(ctx: WalkContext, spec: str) -> FunctionExtent:
    """``module!name`` -> its extent from symbols (or .pdata for an export)."""
    if "!" not in spec:
        raise InputError(f"expected module!function, got {spec!r}")
    mod_name, func = spec.split("!", 1)
    module = _module(ctx, mod_name)
    syms = ctx.symbols(module)
    table = getattr(syms, "table", None)
    if table is not None and table.function_count:
        names = table.func_names
        wanted = [i for i, n in enumerate(names) if n == func or n.split("(", 1)[0] == func]
        if wanted:
            mask = np.isin(table.range_func, wanted)
            idx = np.flatnonzero(mask)
            if len(idx):
                starts = table.range_starts.astype(np.int64)
                ends = np.append(starts[1:], starts[-1] + 1)
                lo, hi = int(starts[idx].min()), int(ends[idx].max())
                return FunctionExtent(spec, module.name, module.base + lo, module.base + hi,
                                      "symbols")
    rva = _export_rva(ctx, module, func)
    data = ctx.unwind_data(module) if rva is not None else None
    entry = data.function_at(rva) if data is not None else None
    if entry is not None:
        return FunctionExtent(spec, module.name, module.base + entry.begin,
                              module.base + entry.end, "pdata")
    raise InputError(f"{spec}: no symbol or export with an extent (try --range "
                     f"{mod_name}+START-END)")


def _export_rva(ctx: WalkContext, module, name: str) -> Optional[int]:
    from toolkit.targets.pe.image import image_in_target
    image = image_in_target(ctx.target, module)
    if image is None:
        return None
    try:
        for export in image.exports():
            if getattr(export, "name", None) == name and getattr(export, "rva", None):
                return int(export.rva)
    except Exception:  # CorruptInput from a damaged export directory: no extent from it
        return None
    return None


def resolve_range(ctx: WalkContext, spec: str) -> FunctionExtent:
    """``module+start-end`` (hex offsets, end exclusive)."""
    if "+" not in spec or "-" not in spec:
        raise InputError(f"expected module+START-END, got {spec!r}")
    mod_name, offsets = spec.rsplit("+", 1)
    try:
        lo, hi = (int(x, 16) for x in offsets.split("-", 1))
    except ValueError:
        raise InputError(f"{spec}: offsets must be hex") from None
    module = _module(ctx, mod_name)
    if not 0 <= lo < hi <= module.size:
        raise InputError(f"{spec}: the range is not inside {module.name} (size {module.size:#x})")
    return FunctionExtent(spec, module.name, module.base + lo, module.base + hi, "range")


def patch_check(target: Target, functions: Sequence[str] = (), ranges: Sequence[str] = (),
                resolver: Any = None) -> PatchCheckReport:
    from toolkit.stackwalk.walker import context_of
    ctx = WalkContext(target, resolver)
    extents = [resolve_function(ctx, s) for s in functions] + \
              [resolve_range(ctx, s) for s in ranges]
    if not extents:
        raise InputError("give at least one --function or --range")
    starts = np.array([e.start for e in extents], np.uint64)
    ends = np.array([e.end for e in extents], np.uint64)
    verdicts = []
    budget = StackBudget(target)
    for thread in target.threads():
        evidence: List[Evidence] = []
        problems: List[Problem] = []
        ips = []
        if thread.registers is not None and thread.registers.ip is not None:
            ips.append(thread.registers.ip)
        regs, source = context_of(target, thread)
        if regs is not None and source == "exception" and \
                regs.get(target.arch.ip_register) is not None:
            ips.append(regs[target.arch.ip_register])
        for ip in dict.fromkeys(ips):
            for e in extents:
                if e.start <= ip < e.end:
                    evidence.append(Evidence(e.spec, "ip", None, ip, False, _sym(ctx, ip)))
        slots = 0
        if thread.stack_start is None or thread.stack_end is None:
            problems.append(Problem("patch_check.no_stack",
                                    "no stack memory in the dump: the thread cannot be cleared"))
        else:
            start, values, probs = budget.thread_slots(ctx, thread, regs)
            problems.extend(probs)
            slots = len(values)
            i = np.searchsorted(starts, values, side="right").astype(np.int64) - 1
            inside = (i >= 0) & (values < ends[np.maximum(i, 0)])
            # extents may overlap: check every extent for the hits (few)
            hit_idx = np.flatnonzero(inside | _any_inside(values, starts, ends))
            lengths = call_lengths(ctx, values[hit_idx])
            for j, k in enumerate(hit_idx.tolist()):
                value = int(values[k])
                for e in extents:
                    if e.start <= value < e.end:
                        evidence.append(Evidence(e.spec, "slot", start + k * ctx.pointer_size,
                                                 value, bool(lengths[j]),
                                                 _sym(ctx, value, bool(lengths[j]))))
        verdicts.append(ThreadVerdict(thread.tid, _verdict(thread, evidence, problems), slots,
                                      tuple(evidence), tuple(problems)))
    return PatchCheckReport(target.arch, target.pointer_size, tuple(extents), tuple(verdicts),
                            tuple(ctx.problems))


def _verdict(thread, evidence: List[Evidence], problems: List[Problem]) -> str:
    if evidence or thread.stack_start is None or thread.stack_end is None:
        return UNSAFE
    if any(p.code in UNSEEN_SLOTS for p in problems):
        return UNKNOWN
    return SAFE


def _any_inside(values: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    out = np.zeros(len(values), bool)
    if len(starts) <= 1:
        return out
    for s, e in zip(starts.tolist(), ends.tolist()):
        out |= (values >= np.uint64(s)) & (values < np.uint64(e))
    return out


def _sym(ctx: WalkContext, address: int, caller: bool = False) -> Optional[str]:
    loc = ctx.location(address, caller=caller)
    return loc.format(ctx.pointer_size) if loc is not None else None


__all__ = ["patch_check", "PatchCheckReport", "ThreadVerdict", "Evidence", "FunctionExtent",
           "resolve_function", "resolve_range"]
