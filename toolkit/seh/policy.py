"""Which rules each Windows version applies, as data.

* 2003: Windows Server 2003 SP1 / XP SP2 dispatcher: the record must lie inside
  [StackLimit, StackBase) and be aligned; handlers are checked against SafeSEH (/SAFESEH
  appeared with XP SP2/2003). No SEHOP.
* vista: Vista and later drop the lower stack bound (a record may lie below StackLimit, e.g.
  after the stack grew), keep the rest. SEHOP exists from Vista SP1 but is off by default on
  clients, so this policy leaves it out.
* win10: vista plus SEHOP (the ascending-order walk and the final-handler check), as enabled
  for processes that opt in and by default on servers.

Adding a policy is one entry in ``POLICIES``; adding a rule is one id in the tuples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from toolkit.model.errors import InputError
from toolkit.seh.rules import RULES

HANDLER_RULES = ("SAFESEH_LISTED", "NO_SEH_IMAGE", "ILONLY_IMAGE", "NO_TABLE", "NOT_IN_IMAGE")


@dataclass(frozen=True)
class Policy:
    name: str
    description: str
    rules: Tuple[str, ...]

    @property
    def record_rules(self) -> Tuple[str, ...]:
        return tuple(r for r in self.rules if RULES[r].scope == "record")

    @property
    def chain_rules(self) -> Tuple[str, ...]:
        return tuple(r for r in self.rules if RULES[r].scope == "chain")


POLICIES: Dict[str, Policy] = {p.name: p for p in (
    Policy("2003", "Windows Server 2003 SP1 / XP SP2: both stack bounds, SafeSEH, no SEHOP",
           ("STACK_LOW", "STACK_HIGH", "ALIGN", "HANDLER_NOT_ON_STACK") + HANDLER_RULES),
    Policy("vista", "Windows Vista and later without SEHOP: upper stack bound only, SafeSEH",
           ("STACK_HIGH", "ALIGN", "HANDLER_NOT_ON_STACK") + HANDLER_RULES),
    Policy("win10", "Windows 10/11 with SEHOP: upper stack bound, SafeSEH, ascending chain "
                    "ending in ntdll!FinalExceptionHandler",
           ("STACK_HIGH", "ALIGN", "ASCENDING", "HANDLER_NOT_ON_STACK") + HANDLER_RULES
           + ("SEHOP_FINAL", "SEHOP_WALK")),
)}
DEFAULT_POLICY = "win10"


def policy_for_os(major: Optional[int], minor: Optional[int] = None) -> str:
    """The policy a dump's OS version calls for: 5.x (XP, 2003) -> 2003, 6.0-6.3 (Vista to 8.1)
    -> vista, 10 and later -> win10; unknown -> the default. ``exchain`` and ``analyze`` both
    take their default from here, so one dump gets one verdict. Older than 5 gets 2003: NT 4
    and 2000 had no SEHOP either."""
    if major is None:
        return DEFAULT_POLICY
    if major <= 5:
        return "2003"
    if major == 6:
        return "vista"
    return "win10"


def get_policy(name: str = DEFAULT_POLICY) -> Policy:
    try:
        return POLICIES[name]
    except KeyError:
        raise InputError(f"unknown SEH policy {name!r}; choose one of "
                         f"{', '.join(POLICIES)}") from None


__all__ = ["Policy", "POLICIES", "DEFAULT_POLICY", "get_policy", "policy_for_os", "HANDLER_RULES"]
