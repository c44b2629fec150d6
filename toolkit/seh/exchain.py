"""``exchain``: every record of the chosen threads' SEH chains, judged under one policy."""

from __future__ import annotations

from typing import Any, List, Optional, Sequence

from toolkit.model.errors import InputError
from toolkit.seh.chain import CHAIN_CAP, find_nt_tib, walk_chain
from toolkit.seh.heuristic import heuristic_chain
from toolkit.seh.judge import Judge
from toolkit.seh.model import ChainVerdict, ExchainReport
from toolkit.seh.policy import get_policy, policy_for_os
from toolkit.model.target import Arch, Problem, Thread


def select_threads(target: Any, thread_ids: Optional[Sequence[int]] = None,
                   all_threads: bool = False) -> List[Thread]:
    """All threads, the ones named, or (default) the exception thread / the first thread."""
    threads = target.threads()
    if all_threads:
        return threads
    if thread_ids:
        by_id = {t.tid: t for t in threads}
        missing = [tid for tid in thread_ids if tid not in by_id]
        if missing:
            raise InputError(f"no thread {missing[0]:#x} ({missing[0]}) in the dump; it has "
                             f"{', '.join(hex(t.tid) for t in threads) or 'no threads'}")
        return [by_id[tid] for tid in thread_ids]
    exc = target.exception()
    if exc is not None:
        for t in threads:
            if t.tid == exc.thread_id:
                return [t]
    return threads[:1]


def thread_chain(judge: Judge, thread: Thread, *, heuristic: bool = False,
                 cap: int = CHAIN_CAP) -> ChainVerdict:
    """One thread's chain: from NT_TIB when its memory is there, else unknown (or heuristic)."""
    target = judge.target
    tib, why = find_nt_tib(target, thread)
    if tib is None:
        x86 = target.arch is Arch.X86 or thread.wow64_teb is not None
        if heuristic and x86:
            raw, note = heuristic_chain(target, thread, judge.is_code)
            records = tuple(judge.record(r.address, r.next, r.handler, None, None,
                                         heuristic=True) for r in raw.records)
            return ChainVerdict(thread.tid, "heuristic", None, None, None, None, records,
                                raw.termination, judge.chain_rules(records, raw.termination),
                                note=f"{why}; {note}")
        hint = " (--heuristic searches the stack for a plausible chain)" if x86 else ""
        return ChainVerdict(thread.tid, None, None, None, None, None, (), "head-unknown",
                            note=f"{why}{hint}", applicable=x86)
    raw = walk_chain(target, tib.exception_list, cap)
    records = tuple(judge.record(r.address, r.next, r.handler, tib.stack_limit, tib.stack_base)
                    for r in raw.records)
    problems = []
    if raw.termination == "cap":
        problems.append(Problem("seh.cap", f"walk stopped after {cap} records"))
    return ChainVerdict(thread.tid, tib.source, tib.address, tib.exception_list, tib.stack_base,
                        tib.stack_limit, records, raw.termination,
                        judge.chain_rules(records, raw.termination), problems=tuple(problems))


def exchain(target: Any, *, policy: Optional[str] = None,
            thread_ids: Optional[Sequence[int]] = None, all_threads: bool = False,
            heuristic: bool = False, resolver: Any = None) -> ExchainReport:
    """The SEH chains of the chosen threads, every record judged under ``policy`` (default: the
    one the dump's OS version calls for, ``policy_for_os``; an XP dump judged by Windows 10's
    SEHOP rules would fail for a check its dispatcher never made)."""
    source = "given"
    if policy is None:
        system = target.system_info()
        policy, source = policy_for_os(system.os_major, system.os_minor), "os_version"
    pol = get_policy(policy)
    judge = Judge(target, pol, resolver=resolver)
    chains = tuple(thread_chain(judge, t, heuristic=heuristic)
                   for t in select_threads(target, thread_ids, all_threads))
    problems = list(getattr(resolver, "problems", []) or [])
    if target.arch not in (Arch.X86, Arch.AMD64):
        problems.append(Problem("seh.arch", f"{target.arch.value} dump: SEH chains exist only "
                                            "for x86 and WOW64 threads"))
    return ExchainReport(pol.name, pol.description, pol.rules, chains, tuple(problems),
                         policy_source=source)


__all__ = ["exchain", "thread_chain", "select_threads"]
