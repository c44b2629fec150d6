"""Applying a policy's rules to records and chains, and ``judge_handler`` for one record.

``Judge`` holds what is shared while judging one target (image facts per module, names per
address, the MemoryInfoList) so that a chain of many records reads each image once.
"""

from __future__ import annotations

import bisect
from typing import Any, List, Optional, Sequence, Tuple

from toolkit.model.errors import DumpkitError
from toolkit.seh.chain import find_nt_tib, read_record
from toolkit.seh.images import ImageCache
from toolkit.seh.model import EXCEPTION_CHAIN_END, RecordVerdict, RuleVerdict
from toolkit.seh.names import Namer
from toolkit.seh.policy import Policy, get_policy
from toolkit.seh.rules import RULES, ChainContext, RecordContext
from toolkit.seh.scopetable import frame_kind, read_scope
from toolkit.model.target import MemoryInfo, Thread

POP_REG = range(0x58, 0x60)     # pop eax .. pop edi
RET, RET_IMM16 = 0xC3, 0xC2


class Judge:
    """Judges records and chains of one target under one policy."""

    def __init__(self, target: Any, policy: Policy, *, resolver: Any = None,
                 images: Optional[ImageCache] = None, namer: Optional[Namer] = None) -> None:
        self.target = target
        self.policy = policy
        self.namer = namer or Namer(target, resolver)
        self.images = images or ImageCache(target, getattr(resolver, "locator", None))
        self._meminfo: Optional[Tuple[List[MemoryInfo], List[int]]] = None
        self._meminfo_loaded = False

    # ---- memory info ------------------------------------------------------------------------
    def _memory_rows(self) -> Optional[Tuple[List[MemoryInfo], List[int]]]:
        if not self._meminfo_loaded:
            self._meminfo_loaded = True
            try:
                rows = self.target.memory_info()
            except DumpkitError:
                rows = None
            if rows is not None:
                rows = sorted(rows, key=lambda r: r.base)
                self._meminfo = (rows, [r.base for r in rows])
        return self._meminfo

    def memory_at(self, address: int) -> Tuple[bool, Optional[MemoryInfo]]:
        table = self._memory_rows()
        if table is None:
            return False, None
        rows, bases = table
        i = bisect.bisect_right(bases, address) - 1
        if i >= 0 and rows[i].base <= address < rows[i].end:
            return True, rows[i]
        return True, None

    # ---- records ------------------------------------------------------------------------------
    def record(self, address: int, next_: Optional[int], handler: Optional[int],
               stack_limit: Optional[int], stack_base: Optional[int], *,
               heuristic: bool = False) -> RecordVerdict:
        name = self.namer.name(handler) if handler is not None else None
        module = name.module if name is not None else None
        image = self.images.facts(module) if module is not None else None
        present, memory = self.memory_at(handler) if handler is not None else (False, None)
        ctx = RecordContext(address, next_, handler, stack_limit, stack_base, image, memory,
                            present)
        verdicts = tuple(RULES[r].check(ctx) for r in self.policy.record_rules)
        scope = None
        kind = frame_kind(name.symbol) if name is not None else None
        if kind is not None:
            scope = read_scope(self.target, address, kind,
                               image.security_cookie if image is not None else None, self.namer)
        return RecordVerdict(address, next_, handler, verdicts,
                             name.text if name is not None else None,
                             module.name if module is not None else None, scope,
                             self._observations(next_, handler), heuristic)

    def _observations(self, next_: Optional[int], handler: Optional[int]) -> Tuple[str, ...]:
        """Signs of an overwritten record (classic SEH exploitation), for the reader."""
        out = []
        if next_ is not None and next_ != EXCEPTION_CHAIN_END and next_ & 0xFF == 0xEB:
            out.append("next-short-jump")          # bytes EB xx: "jmp short" over the handler
        if handler is not None:
            try:
                code = self.target.read(handler, 3)
            except DumpkitError:
                code = b""
            if len(code) == 3 and code[0] in POP_REG and code[1] in POP_REG \
                    and code[2] in (RET, RET_IMM16):
                out.append("handler-pop-pop-ret")
        return tuple(out)

    def is_code(self, address: int) -> Optional[bool]:
        """Executable-section membership from the image facts; None when the image is unknown."""
        module = self.target.module_at(address)
        if module is None:
            return False
        facts = self.images.facts(module)
        return facts.is_code(address) if facts.available and facts.code_ranges else None

    # ---- chains -------------------------------------------------------------------------------
    def chain_rules(self, records: Sequence[RecordVerdict], termination: str) -> \
            Tuple[RuleVerdict, ...]:
        final_module = final_symbol = None
        known = False
        if records and records[-1].handler is not None:
            name = self.namer.name(records[-1].handler)
            final_module = name.module.name if name.module is not None else None
            final_symbol, known = name.symbol, name.symbols_known
        ctx = ChainContext(tuple(records), termination, final_module, final_symbol, known)
        return tuple(RULES[r].check(ctx) for r in self.policy.chain_rules)


def judge_handler(target: Any, record_address: int, handler: int, *,
                  policy: str = "win10", next_: Optional[int] = None,
                  thread: Optional[Thread] = None, resolver: Any = None) -> RecordVerdict:
    """Judge one registration record (and its handler) under ``policy``.

    The stack bounds come from ``thread``'s NT_TIB, else from the thread whose stack holds
    ``record_address``; without either, the stack rules say "unverifiable". ``next_`` is read
    from the record when not given.
    """
    limit = base = None
    threads = [thread] if thread is not None else target.threads()
    for t in threads:
        tib, _ = find_nt_tib(target, t)
        if tib is not None and (thread is not None
                                or tib.stack_limit <= record_address < tib.stack_base):
            limit, base = tib.stack_limit, tib.stack_base
            break
    if next_ is None:
        next_ = read_record(target, record_address).next
    return Judge(target, get_policy(policy), resolver=resolver).record(
        record_address, next_, handler, limit, base)


__all__ = ["Judge", "judge_handler"]
