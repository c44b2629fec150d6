"""Finding a thread's x86 NT_TIB and walking its ExceptionList, without judging anything.

The head is NT_TIB.ExceptionList (TEB offset 0; ``fs:[0]``). For a 32-bit thread of a WOW64
process in an x64 dump, the 32-bit TEB (``Thread.wow64_teb``, TEB64 + 0x2000) holds it. The walk
follows Next to 0xFFFFFFFF and stops on a revisited record (a loop), on a record whose bytes the
dump lacks, or after a cap of records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional, Tuple

from construct import ConstructError

from parsers.nt_tib import EXCEPTION_REGISTRATION_RECORD, NT_TIB32
from toolkit.model.errors import DumpkitError
from toolkit.seh.model import EXCEPTION_CHAIN_END
from toolkit.model.target import Arch, Thread

CHAIN_CAP = 4096


@dataclass(frozen=True)
class NtTib:
    """The parts of a thread's 32-bit NT_TIB the SEH rules use."""

    address: int
    source: str                 # "teb" | "wow64_teb"
    exception_list: int
    stack_base: int
    stack_limit: int


@dataclass(frozen=True)
class RawRecord:
    address: int
    next: Optional[int]         # None when the record's 8 bytes are not in the dump
    handler: Optional[int]


@dataclass(frozen=True)
class RawChain:
    records: Tuple[RawRecord, ...]
    termination: str            # "end" | "loop" | "unreadable" | "cap" | "empty"


def x86_view(target: Any, thread: Thread) -> Tuple[Optional[int], Optional[str], Optional[str]]:
    """(TIB address, source, why none): where this thread's 32-bit NT_TIB should be."""
    if target.arch is Arch.X86:
        if thread.teb is None:
            return None, None, "the dump records no TEB address for the thread"
        return thread.teb, "teb", None
    if target.arch is Arch.AMD64:
        if thread.wow64_teb is not None:
            return thread.wow64_teb, "wow64_teb", None
        return None, None, "64-bit thread: x64 code uses table-based exception handling, " \
                           "not an SEH chain"
    return None, None, f"{target.arch.value} thread: no x86 SEH chain"


def find_nt_tib(target: Any, thread: Thread) -> Tuple[Optional[NtTib], Optional[str]]:
    """The thread's NT_TIB32 read from memory, or None and the reason (e.g. TEB not in dump)."""
    address, source, why = x86_view(target, thread)
    if address is None or source is None:
        return None, why
    try:
        tib = NT_TIB32.parse(target.read(address, NT_TIB32.sizeof()))
    except DumpkitError:
        return None, (f"TEB memory at {address:08x} is not in the dump: the chain head "
                      "(NT_TIB.ExceptionList) is unknown")
    except ConstructError as exc:
        return None, f"NT_TIB at {address:08x} is unreadable: {exc}"
    return NtTib(address, source, tib.ExceptionList, tib.StackBase, tib.StackLimit), None


def read_record(target: Any, address: int) -> RawRecord:
    try:
        raw = target.read(address, EXCEPTION_REGISTRATION_RECORD.sizeof())
    except DumpkitError:
        return RawRecord(address, None, None)
    rec = EXCEPTION_REGISTRATION_RECORD.parse(raw)
    return RawRecord(address, rec.Next, rec.Handler)


def walk_chain(target: Any, head: int, cap: int = CHAIN_CAP) -> RawChain:
    """Follow Next from ``head``: every record reached, and why the walk stopped."""
    if head == EXCEPTION_CHAIN_END:
        return RawChain((), "empty")
    seen = set()
    out: List[RawRecord] = []
    address = head
    while True:
        if address in seen:
            return RawChain(tuple(out), "loop")
        if len(out) >= cap:
            return RawChain(tuple(out), "cap")
        seen.add(address)
        rec = read_record(target, address)
        out.append(rec)
        if rec.next is None:
            return RawChain(tuple(out), "unreadable")
        if rec.next == EXCEPTION_CHAIN_END:
            return RawChain(tuple(out), "end")
        address = rec.next


__all__ = ["NtTib", "RawRecord", "RawChain", "CHAIN_CAP", "x86_view", "find_nt_tib",
           "read_record", "walk_chain"]
