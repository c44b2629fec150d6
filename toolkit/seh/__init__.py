"""x86 SEH chain validation (``!exchain`` with verdicts), an analysis: rules of docs SEH_RULES.md.
May import: parsers, toolkit.model, .targets, .unwind, .symbols and other analyses; never commands.

``exchain(target, policy=...)`` walks and judges whole chains; ``judge_handler`` answers for
one record and handler (for the WinDbg front end and triage). Rules live one per function in
``rules``, OS policies as data in ``policy``.
"""

from __future__ import annotations

from toolkit.seh.exchain import exchain, select_threads, thread_chain
from toolkit.seh.judge import Judge, judge_handler
from toolkit.seh.model import (ChainVerdict, ExchainReport, Outcome, RecordVerdict, RuleVerdict,
                               ScopeEntry, ScopeInfo)
from toolkit.seh.policy import DEFAULT_POLICY, POLICIES, Policy, get_policy
from toolkit.seh.rules import RULES

__all__ = ["exchain", "select_threads", "thread_chain", "Judge", "judge_handler",
           "ChainVerdict", "ExchainReport", "Outcome", "RecordVerdict", "RuleVerdict",
           "ScopeEntry", "ScopeInfo", "DEFAULT_POLICY", "POLICIES", "Policy", "get_policy",
           "RULES"]
