"""A plausible SEH chain found by searching a thread's stack, for dumps without TEB memory.

HEURISTIC, and labeled so in every output line: without NT_TIB the real head is unknown. A
candidate record is an aligned stack slot pair {Next, Handler} whose Handler lies inside a
module's image (past its headers) and whose Next is 0xFFFFFFFF or an aligned address further
up the scanned stack. Candidates are linked through Next; the longest linked run that ends in
0xFFFFFFFF is reported (ties: the one starting lowest, nearest the stack pointer).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from toolkit.model.errors import DumpkitError
from toolkit.seh.chain import RawChain, RawRecord
from toolkit.seh.model import EXCEPTION_CHAIN_END
from toolkit.model.target import Thread

MAX_SCAN = 1 << 20          # at most 1 MiB of stack
PAGE = 0x1000
HEADER_SKIP = 0x400         # a handler in the first bytes of an image (its headers) is implausible


def stack_span(target: Any, thread: Thread) -> Optional[Tuple[int, bytes]]:
    """(start, bytes) of the thread's readable x86 stack, from its stack pointer upwards."""
    regs = thread.wow64_registers if thread.wow64_registers is not None else thread.registers
    sp = regs.sp if regs is not None else None
    if thread.wow64_registers is None and thread.stack_start is not None \
            and thread.stack_end is not None:
        start = sp if sp is not None and thread.stack_start <= sp < thread.stack_end \
            else thread.stack_start
        start &= ~3
        try:
            return start, target.read(start, min(thread.stack_end - start, MAX_SCAN))
        except DumpkitError:
            return None
    if sp is None:
        return None
    start = sp & ~3
    chunks = []
    at = start
    while at - start < MAX_SCAN:   # WOW64: the 32-bit stack is not the thread's MINIDUMP stack
        size = PAGE - (at % PAGE)
        try:
            chunks.append(target.read(at, size))
        except DumpkitError:
            break
        at += size
    return (start, b"".join(chunks)) if chunks else None


def heuristic_chain(target: Any, thread: Thread,
                    is_code: Optional[Callable[[int], Optional[bool]]] = None) -> \
        Tuple[RawChain, str]:
    """The most plausible chain on the stack and a note saying how it was found.

    ``is_code(handler)`` says whether an address lies in an executable section (None: the
    image is unknown, keep the candidate); it drops data pointers that look like handlers.
    """
    span = stack_span(target, thread)
    if span is None:
        return RawChain((), "empty"), "HEURISTIC: no stack memory to search"
    start, data = span
    words = np.frombuffer(data[:len(data) // 4 * 4], dtype="<u4").astype(np.int64)
    if len(words) < 2:
        return RawChain((), "empty"), "HEURISTIC: no stack memory to search"
    end = start + 4 * len(words)
    nexts, handlers = words[:-1], words[1:]
    addrs = start + 4 * np.arange(len(nexts), dtype=np.int64)
    in_module = np.zeros(len(handlers), dtype=bool)
    for m in target.modules():
        in_module |= (handlers >= m.base + HEADER_SKIP) & (handlers < m.end)
    next_ok = (nexts == EXCEPTION_CHAIN_END) | ((nexts > addrs + 4) & (nexts < end)
                                                & (nexts % 4 == 0))
    hits = np.nonzero(in_module & next_ok)[0]
    cand: Dict[int, Tuple[int, int]] = {int(addrs[i]): (int(nexts[i]), int(handlers[i]))
                                        for i in hits}
    if is_code is not None:
        cand = {a: nh for a, nh in cand.items() if is_code(nh[1]) is not False}
    best: List[int] = []
    length: Dict[int, int] = {}
    for a in sorted(cand, reverse=True):           # higher records first: Next points up
        n = cand[a][0]
        if n == EXCEPTION_CHAIN_END:
            length[a] = 1
        elif n in length:
            length[a] = length[n] + 1
    for a in sorted(length):
        if length[a] > len(best):
            best, at = [], a
            while True:
                best.append(at)
                nxt = cand[at][0]
                if nxt == EXCEPTION_CHAIN_END:
                    break
                at = nxt
    records = tuple(RawRecord(a, cand[a][0], cand[a][1]) for a in best)
    note = (f"HEURISTIC: searched {len(data):#x} bytes of stack from {start:08x}: "
            f"{len(cand)} candidate records, the longest chain ending in 0xFFFFFFFF has "
            f"{len(records)}")
    return RawChain(records, "end" if records else "empty"), note


__all__ = ["heuristic_chain", "stack_span"]
