"""The values an SEH chain judgement produces: one verdict per rule, per record, per chain.

Every verdict names its rule id (SEH_RULES.md) and says whether the rule is documented by
Microsoft or inferred from observed behaviour, so a reader can weigh a failure.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

from toolkit.model.hexfmt import hex_addr, hex_int
from toolkit.model.target import Problem

EXCEPTION_CHAIN_END = 0xFFFFFFFF
RECORD_SIZE = 8


class Outcome(str, enum.Enum):
    """A rule's answer for one record (or one chain)."""

    PASS = "pass"
    FAIL = "fail"
    UNVERIFIABLE = "unverifiable"     # the dump lacks what the rule needs; Windows may allow it
    NOT_APPLICABLE = "n/a"            # the rule does not concern this record (other rules decide)


@dataclass(frozen=True)
class RuleVerdict:
    rule: str
    outcome: Outcome
    reason: str
    basis: str = "documented"         # "documented" | "inferred"

    def to_json(self) -> Dict[str, Any]:
        return {"rule": self.rule, "outcome": self.outcome.value, "reason": self.reason,
                "basis": self.basis}


@dataclass(frozen=True)
class ScopeEntry:
    """One CRT scope-table entry reached from the frame's current try level (as !exchain shows)."""

    level: int
    enclosing_level: int
    filter: Optional[int]             # None (0 in memory) for __finally
    handler: int
    filter_name: Optional[str] = None
    handler_name: Optional[str] = None

    def to_json(self) -> Dict[str, Any]:
        return {"level": self.level, "enclosing_level": self.enclosing_level,
                "filter": hex_addr(self.filter, 4), "filter_name": self.filter_name,
                "handler": hex_addr(self.handler, 4), "handler_name": self.handler_name}


@dataclass(frozen=True)
class ScopeInfo:
    """The CRT frame behind an _except_handler3/_except_handler4 record."""

    kind: str                          # "eh3" | "eh4"
    try_level: Optional[int]
    scope_table: Optional[int]         # decoded pointer (EH4: after XOR with the cookie)
    encoded_scope_table: Optional[int] = None
    security_cookie: Optional[int] = None
    entries: Tuple[ScopeEntry, ...] = ()
    note: Optional[str] = None         # why entries are missing ("cookie unreadable", ...)

    def to_json(self) -> Dict[str, Any]:
        return {"kind": self.kind, "try_level": self.try_level,
                "scope_table": hex_addr(self.scope_table, 4),
                "encoded_scope_table": hex_addr(self.encoded_scope_table, 4),
                "security_cookie": hex_addr(self.security_cookie, 4),
                "entries": [e.to_json() for e in self.entries], "note": self.note}


@dataclass(frozen=True)
class RecordVerdict:
    """One EXCEPTION_REGISTRATION_RECORD and what each applied rule says about it."""

    address: int
    next: Optional[int]                # None: the record's memory is not in the dump
    handler: Optional[int]
    rules: Tuple[RuleVerdict, ...]
    handler_name: Optional[str] = None  # module!symbol+0xoff or module+0xoff
    handler_module: Optional[str] = None
    scope: Optional[ScopeInfo] = None
    observations: Tuple[str, ...] = ()  # e.g. "next-short-jump", "handler-pop-pop-ret"
    heuristic: bool = False

    @property
    def failing(self) -> Tuple[str, ...]:
        return tuple(v.rule for v in self.rules if v.outcome is Outcome.FAIL)

    @property
    def unverifiable(self) -> Tuple[str, ...]:
        return tuple(v.rule for v in self.rules if v.outcome is Outcome.UNVERIFIABLE)

    @property
    def status(self) -> str:
        """"invalid" when a rule fails, "unverifiable" when one cannot be checked, else "valid"."""
        if self.failing:
            return "invalid"
        return "unverifiable" if self.unverifiable else "valid"

    def verdict(self, rule: str) -> Optional[RuleVerdict]:
        for v in self.rules:
            if v.rule == rule:
                return v
        return None

    def to_json(self) -> Dict[str, Any]:
        return {"address": hex_addr(self.address, 4), "next": hex_addr(self.next, 4),
                "handler": hex_addr(self.handler, 4), "handler_name": self.handler_name,
                "handler_module": self.handler_module, "status": self.status,
                "failing": list(self.failing), "unverifiable": list(self.unverifiable),
                "rules": [v.to_json() for v in self.rules],
                "scope": self.scope.to_json() if self.scope else None,
                "observations": list(self.observations), "heuristic": self.heuristic}


# What toolkit.seh.heuristic's search requires of every candidate record (aligned, Next further
# up the stack, handler inside a module image): on a heuristic chain these rules pass by
# construction, so their passes are no evidence.
HEURISTIC_BY_CONSTRUCTION = ("ALIGN", "ASCENDING", "NOT_IN_IMAGE")


@dataclass(frozen=True)
class ChainVerdict:
    """One thread's chain: where its head came from, its records, and the whole-chain rules."""

    thread_id: Optional[int]
    source: Optional[str]              # "teb" | "wow64_teb" | "heuristic" | None (head unknown)
    tib_address: Optional[int]
    head: Optional[int]                # NT_TIB.ExceptionList
    stack_base: Optional[int]
    stack_limit: Optional[int]
    records: Tuple[RecordVerdict, ...]
    termination: str                   # "end" | "loop" | "unreadable" | "cap" | "head-unknown" | "empty"
    chain_rules: Tuple[RuleVerdict, ...] = ()
    note: Optional[str] = None         # e.g. why the head is unknown
    problems: Tuple[Problem, ...] = ()
    applicable: bool = True            # False: a native 64-bit (or non-x86) thread has no chain

    @property
    def heuristic(self) -> bool:
        return self.source == "heuristic"

    @property
    def failing(self) -> Tuple[str, ...]:
        """Every failing rule id, records first then chain rules, each once, in order."""
        out: list = []
        for r in self.records:
            out += [x for x in r.failing if x not in out]
        out += [v.rule for v in self.chain_rules if v.outcome is Outcome.FAIL
                and v.rule not in out]
        return tuple(out)

    @property
    def checked(self) -> bool:
        """Whether any applied rule was decided (pass or fail) on this chain. False means "no
        rule fails" would say nothing: every verdict is unverifiable or n/a, or (heuristic
        chains) passes only because the stack search picked records that way."""
        decided = (Outcome.PASS, Outcome.FAIL)
        given = HEURISTIC_BY_CONSTRUCTION if self.heuristic else ()

        def counts(v: RuleVerdict) -> bool:
            return v.outcome is Outcome.FAIL or (v.outcome in decided and v.rule not in given)
        return (any(counts(v) for r in self.records for v in r.rules)
                or any(counts(v) for v in self.chain_rules))

    def to_json(self) -> Dict[str, Any]:
        return {"thread_id": self.thread_id, "thread_id_hex": hex_int(self.thread_id),
                "source": self.source, "heuristic": self.heuristic,
                "tib": hex_addr(self.tib_address, 4), "head": hex_addr(self.head, 4),
                "stack_base": hex_addr(self.stack_base, 4),
                "stack_limit": hex_addr(self.stack_limit, 4),
                "termination": self.termination, "note": self.note,
                "applicable": self.applicable,
                "failing": list(self.failing), "checked": self.checked,
                "records": [r.to_json() for r in self.records],
                "chain_rules": [v.to_json() for v in self.chain_rules],
                "problems": [p.to_json() for p in self.problems]}


@dataclass(frozen=True)
class ExchainReport:
    """The answer of ``dumpkit exchain``: the policy applied and one chain per thread asked for."""

    policy: str
    policy_description: str
    rules_applied: Tuple[str, ...]
    chains: Tuple[ChainVerdict, ...]
    problems: Tuple[Problem, ...] = field(default=())
    policy_source: str = "given"        # "given" (--policy) | "os_version" (policy_for_os)

    def to_json(self) -> Dict[str, Any]:
        return {"policy": self.policy, "policy_description": self.policy_description,
                "policy_source": self.policy_source,
                "rules_applied": list(self.rules_applied),
                "chains": [c.to_json() for c in self.chains],
                "problems": [p.to_json() for p in self.problems]}


__all__ = ["Outcome", "RuleVerdict", "ScopeEntry", "ScopeInfo", "RecordVerdict", "ChainVerdict",
           "ExchainReport", "EXCEPTION_CHAIN_END", "RECORD_SIZE"]
