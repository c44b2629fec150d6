"""The SEH validation rules of SEH_RULES.md, one function per rule id.

Record rules take a ``RecordContext`` (the record, its thread's stack bounds, what is known of
the image holding the handler and of the handler's memory) and return a ``RuleVerdict``. Chain
rules take a ``ChainContext`` (the judged records and how the walk ended). ``RULES`` maps each
id to its function, scope and basis; ``toolkit.seh.policy`` selects which ids an OS applies.
Adding a rule is: write the function, add one ``Rule(...)`` line to ``RULES``, list its id in a
policy.

Basis: "documented" rules come from Microsoft's own descriptions (RtlDispatchException stack
checks, /SAFESEH, IMAGE_DLLCHARACTERISTICS_NO_SEH, SEHOP's final-handler check); "inferred"
ones come from observed behaviour and public reverse engineering (the ascending-order check,
the IL-only rule, details of non-image dispatch, SEHOP's per-record walk).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

from toolkit.seh.images import ImageFacts
from toolkit.seh.model import (EXCEPTION_CHAIN_END, RECORD_SIZE, Outcome, RecordVerdict,
                               RuleVerdict)
from toolkit.model.target import MemoryInfo

MEM_COMMIT = 0x1000
MEM_IMAGE = 0x1000000
FINAL_HANDLER_NAMES = ("FinalExceptionHandler", "RtlpFinalExceptionHandler",
                       "_FinalExceptionHandler@16", "_RtlpFinalExceptionHandler@16")
# The rules SEHOP's walk re-applies to every record before any handler runs.
SEHOP_WALK_RULES = ("STACK_LOW", "STACK_HIGH", "ALIGN", "ASCENDING", "HANDLER_NOT_ON_STACK")


@dataclass(frozen=True)
class RecordContext:
    address: int
    next: Optional[int]                 # None: not readable
    handler: Optional[int]
    stack_limit: Optional[int]          # NT_TIB.StackLimit; None when NT_TIB is unknown
    stack_base: Optional[int]
    image: Optional[ImageFacts]         # the module holding the handler; None: no module does
    memory: Optional[MemoryInfo] = None  # the MemoryInfoList row holding the handler
    memory_info_present: bool = False


@dataclass(frozen=True)
class ChainContext:
    records: Tuple[RecordVerdict, ...]
    termination: str                    # see ChainVerdict.termination
    final_module: Optional[str] = None  # module name holding the last record's handler
    final_symbol: Optional[str] = None  # its symbol, when symbols were found
    final_symbols_known: bool = False   # whether that module's symbols were available


def _v(rule: str, outcome: Outcome, reason: str) -> RuleVerdict:
    return RuleVerdict(rule, outcome, reason, RULES[rule].basis if rule in RULES else "documented")


# ---- per record: RtlDispatchException's stack checks ---------------------------------------------
def stack_low(c: RecordContext) -> RuleVerdict:
    if c.stack_limit is None:
        return _v("STACK_LOW", Outcome.UNVERIFIABLE, "StackLimit unknown (no NT_TIB)")
    if c.address >= c.stack_limit:
        return _v("STACK_LOW", Outcome.PASS, f"record >= StackLimit {c.stack_limit:08x}")
    return _v("STACK_LOW", Outcome.FAIL, f"record lies below StackLimit {c.stack_limit:08x}")


def stack_high(c: RecordContext) -> RuleVerdict:
    if c.stack_base is None:
        return _v("STACK_HIGH", Outcome.UNVERIFIABLE, "StackBase unknown (no NT_TIB)")
    if c.address + RECORD_SIZE <= c.stack_base:
        return _v("STACK_HIGH", Outcome.PASS, f"record + 8 <= StackBase {c.stack_base:08x}")
    return _v("STACK_HIGH", Outcome.FAIL, f"record + 8 exceeds StackBase {c.stack_base:08x}")


def align(c: RecordContext) -> RuleVerdict:
    if c.address % 4 == 0:
        return _v("ALIGN", Outcome.PASS, "record is 4-byte aligned")
    return _v("ALIGN", Outcome.FAIL, f"record address {c.address:08x} is not 4-byte aligned")


def ascending(c: RecordContext) -> RuleVerdict:
    """Judged on the record's Next: the following record must lie above this one's end."""
    if c.next is None:
        return _v("ASCENDING", Outcome.UNVERIFIABLE, "Next is not readable")
    if c.next == EXCEPTION_CHAIN_END:
        return _v("ASCENDING", Outcome.PASS, "last record (Next = 0xFFFFFFFF)")
    if c.next >= c.address + RECORD_SIZE:
        return _v("ASCENDING", Outcome.PASS, "Next lies above this record")
    return _v("ASCENDING", Outcome.FAIL,
              f"Next {c.next:08x} does not lie above this record's end {c.address + 8:08x}")


def handler_not_on_stack(c: RecordContext) -> RuleVerdict:
    if c.handler is None:
        return _v("HANDLER_NOT_ON_STACK", Outcome.UNVERIFIABLE, "Handler is not readable")
    if c.stack_limit is None or c.stack_base is None:
        return _v("HANDLER_NOT_ON_STACK", Outcome.UNVERIFIABLE, "stack bounds unknown")
    if c.stack_limit <= c.handler < c.stack_base:
        return _v("HANDLER_NOT_ON_STACK", Outcome.FAIL, "handler lies on the thread's stack")
    return _v("HANDLER_NOT_ON_STACK", Outcome.PASS, "handler is not on the stack")


# ---- per record: RtlIsValidHandler -----------------------------------------------------------
def _image_gate(rule: str, c: RecordContext) -> Optional[RuleVerdict]:
    """The shared preconditions of the image rules: handler readable, inside a module, known."""
    if c.handler is None:
        return _v(rule, Outcome.UNVERIFIABLE, "Handler is not readable")
    if c.image is None:
        return _v(rule, Outcome.NOT_APPLICABLE, "handler is outside every module")
    if not c.image.available:
        return _v(rule, Outcome.UNVERIFIABLE, c.image.reason or "image not available")
    return None


def safeseh_listed(c: RecordContext) -> RuleVerdict:
    gate = _image_gate("SAFESEH_LISTED", c)
    if gate is not None:
        return gate
    img = c.image
    assert img is not None and c.handler is not None
    if img.no_seh or img.il_only or not img.has_table:
        return _v("SAFESEH_LISTED", Outcome.NOT_APPLICABLE, f"{img.name} has no SafeSEH table")
    rva = c.handler - img.base
    if img.safeseh_contains(rva):
        return _v("SAFESEH_LISTED", Outcome.PASS,
                  f"RVA {rva:#x} is in {img.name}'s SafeSEH table ({img.source})")
    return _v("SAFESEH_LISTED", Outcome.FAIL,
              f"RVA {rva:#x} is not among the {len(img.handlers)} SafeSEH handlers of {img.name}")


def no_seh_image(c: RecordContext) -> RuleVerdict:
    gate = _image_gate("NO_SEH_IMAGE", c)
    if gate is not None:
        return gate
    assert c.image is not None
    if c.image.no_seh:
        return _v("NO_SEH_IMAGE", Outcome.FAIL,
                  f"{c.image.name} has IMAGE_DLLCHARACTERISTICS_NO_SEH: no handler may be in it")
    return _v("NO_SEH_IMAGE", Outcome.PASS, f"{c.image.name} allows SEH handlers")


def ilonly_image(c: RecordContext) -> RuleVerdict:
    gate = _image_gate("ILONLY_IMAGE", c)
    if gate is not None:
        return gate
    assert c.image is not None
    if c.image.il_only:
        return _v("ILONLY_IMAGE", Outcome.FAIL, f"{c.image.name} is an IL-only .NET image")
    return _v("ILONLY_IMAGE", Outcome.PASS, f"{c.image.name} is not IL-only")


def no_table(c: RecordContext) -> RuleVerdict:
    gate = _image_gate("NO_TABLE", c)
    if gate is not None:
        return gate
    img = c.image
    assert img is not None
    if img.no_seh or img.il_only:
        return _v("NO_TABLE", Outcome.NOT_APPLICABLE, f"{img.name} forbids handlers altogether")
    if img.has_table:
        return _v("NO_TABLE", Outcome.PASS, f"{img.name} has a SafeSEH table")
    return _v("NO_TABLE", Outcome.UNVERIFIABLE,
              f"{img.name} has no SafeSEH table: Windows allows the handler, nothing verifies it")


def not_in_image(c: RecordContext) -> RuleVerdict:
    if c.handler is None:
        return _v("NOT_IN_IMAGE", Outcome.UNVERIFIABLE, "Handler is not readable")
    if c.image is not None:
        return _v("NOT_IN_IMAGE", Outcome.PASS, f"handler lies in {c.image.name}")
    if not c.memory_info_present:
        return _v("NOT_IN_IMAGE", Outcome.UNVERIFIABLE,
                  "handler outside every module; unknown memory (the dump has no MemoryInfoList)")
    m = c.memory
    if m is None or m.state != MEM_COMMIT:
        return _v("NOT_IN_IMAGE", Outcome.FAIL, "handler outside every module, in no committed memory")
    if not m.is_executable:
        return _v("NOT_IN_IMAGE", Outcome.FAIL,
                  f"handler outside every module, on a non-executable page (protect {m.protect:#x})")
    flag = "IMAGE_DISPATCH_ENABLE" if m.type == MEM_IMAGE else "EXECUTE_DISPATCH_ENABLE"
    return _v("NOT_IN_IMAGE", Outcome.UNVERIFIABLE,
              f"handler on executable non-module memory: allowed only with ProcessExecuteFlags "
              f"{flag}, which the dump does not record")


# ---- whole chain: SEHOP ------------------------------------------------------------------------
def sehop_final(c: ChainContext) -> RuleVerdict:
    if c.termination == "loop":
        return _v("SEHOP_FINAL", Outcome.FAIL, "the chain loops: it never reaches a final record")
    if c.termination != "end" or not c.records:
        return _v("SEHOP_FINAL", Outcome.UNVERIFIABLE,
                  f"the walk ended without a final record ({c.termination})")
    last = c.records[-1]
    if c.final_module is None or c.final_module.lower() != "ntdll.dll":
        where = c.final_module or "no module"
        return _v("SEHOP_FINAL", Outcome.FAIL,
                  f"the final handler lies in {where}, not ntdll!FinalExceptionHandler")
    if not c.final_symbols_known or c.final_symbol is None:
        return _v("SEHOP_FINAL", Outcome.UNVERIFIABLE,
                  f"final handler {last.handler or 0:08x} is in ntdll, whose symbols are not "
                  "available to name it")
    name = c.final_symbol.split("(")[0]
    if name in FINAL_HANDLER_NAMES:
        return _v("SEHOP_FINAL", Outcome.PASS, f"the final handler is ntdll!{name}")
    return _v("SEHOP_FINAL", Outcome.FAIL, f"the final handler is ntdll!{name}, "
                                           "not FinalExceptionHandler")


def sehop_walk(c: ChainContext) -> RuleVerdict:
    for r in c.records:
        bad = [x for x in r.failing if x in SEHOP_WALK_RULES]
        if bad:
            return _v("SEHOP_WALK", Outcome.FAIL,
                      f"record {r.address:08x} fails {', '.join(bad)}: the chain is rejected")
    if c.termination in ("unreadable", "cap", "head-unknown"):
        return _v("SEHOP_WALK", Outcome.UNVERIFIABLE,
                  f"the walk stopped early ({c.termination}); later records are unknown")
    unknown = [r.address for r in c.records
               if any(x in SEHOP_WALK_RULES for x in r.unverifiable)]
    if unknown:
        return _v("SEHOP_WALK", Outcome.UNVERIFIABLE,
                  f"record {unknown[0]:08x} could not be checked")
    return _v("SEHOP_WALK", Outcome.PASS, "every record passes the stack and order checks")


# ---- the registry ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    id: str
    scope: str                          # "record" | "chain"
    basis: str                          # "documented" | "inferred"
    check: Callable[..., RuleVerdict]
    summary: str


RULES: Dict[str, Rule] = {r.id: r for r in (
    Rule("STACK_LOW", "record", "documented", stack_low, "record >= NT_TIB.StackLimit"),
    Rule("STACK_HIGH", "record", "documented", stack_high, "record + 8 <= NT_TIB.StackBase"),
    Rule("ALIGN", "record", "documented", align, "record is 4-byte aligned"),
    Rule("ASCENDING", "record", "inferred", ascending, "records ascend the stack"),
    Rule("HANDLER_NOT_ON_STACK", "record", "documented", handler_not_on_stack,
         "handler is not on the thread's stack"),
    Rule("SAFESEH_LISTED", "record", "documented", safeseh_listed,
         "handler RVA is in its image's SafeSEH table"),
    Rule("NO_SEH_IMAGE", "record", "documented", no_seh_image,
         "handler is not in an IMAGE_DLLCHARACTERISTICS_NO_SEH image"),
    Rule("ILONLY_IMAGE", "record", "inferred", ilonly_image,
         "handler is not in an IL-only .NET image"),
    Rule("NO_TABLE", "record", "documented", no_table,
         "handler's image has a SafeSEH table (else unverifiable)"),
    Rule("NOT_IN_IMAGE", "record", "inferred", not_in_image,
         "handler outside images only on executable memory the process may dispatch to"),
    Rule("SEHOP_FINAL", "chain", "documented", sehop_final,
         "the last record's handler is ntdll!FinalExceptionHandler"),
    Rule("SEHOP_WALK", "chain", "inferred", sehop_walk,
         "every record passes the stack, alignment and order checks"),
)}


__all__ = ["RecordContext", "ChainContext", "Rule", "RULES", "SEHOP_WALK_RULES",
           "FINAL_HANDLER_NAMES", "stack_low", "stack_high", "align", "ascending",
           "handler_not_on_stack", "safeseh_listed", "no_seh_image", "ilonly_image", "no_table",
           "not_in_image", "sehop_final", "sehop_walk"]
