"""Walk thread stacks: frame 0 from the context, then per frame the best caller rule.

The rules live in one module per architecture (x86.py, amd64.py, arm64.py), each exposing
``caller_frame(ctx, frame) -> Frame | None``; ``CALLER_RULES`` dispatches by architecture.
This module owns what is common: the end-of-stack checks (IP below 4096, SP not increasing,
the stack's end, a repeated frame, the 4096-frame cap), symbolizing the frames, and choosing
the context: the exception context for the faulting thread (as WinDbg's ``.ecxr`` and Breakpad
do), the thread's own context otherwise. Every walk ends with a stated ``EndReason``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

from toolkit.model.errors import DumpkitError
from toolkit.model.hexfmt import hex_addr, hex_int
from toolkit.stackwalk import amd64, arm64, x86
from toolkit.stackwalk.context import WalkContext
from toolkit.model.target import Arch, Problem, Target, Thread
from toolkit.unwind.trust import EndReason, Frame, Trust

MAX_FRAMES = 4096
MIN_IP = 4096

CALLER_RULES: Dict[Arch, Callable[[WalkContext, Frame], Optional[Frame]]] = {
    Arch.X86: x86.caller_frame,
    Arch.AMD64: amd64.caller_frame,
    Arch.ARM64: arm64.caller_frame,
}


@dataclass(frozen=True)
class ThreadStack:
    """One thread's frames (``locations[i]`` symbolizes ``frames[i]``) and why the walk ended."""

    tid: int
    frames: Tuple[Frame, ...]
    locations: Tuple[Any, ...]
    end_reason: EndReason
    context_source: str                  # "exception" | "thread" | "none"
    problems: Tuple[Problem, ...] = ()
    name: Optional[str] = None           # the ThreadNames stream's name (SetThreadDescription)
    index: Optional[int] = None          # WinDbg's ~N: the thread's position in the dump

    def to_json(self, pointer_size: int = 8) -> Dict[str, Any]:
        frames = []
        for i, (frame, loc) in enumerate(zip(self.frames, self.locations)):
            ret = self.frames[i + 1].ip if i + 1 < len(self.frames) else None
            doc = frame.to_json(pointer_size)
            doc["return_address"] = hex_addr(ret, pointer_size)
            doc["location"] = loc.to_json(pointer_size) if loc is not None else None
            frames.append(doc)
        return {"tid": self.tid, "tid_hex": hex_int(self.tid), "index": self.index,
                "name": self.name,
                "context_source": self.context_source, "end_reason": self.end_reason.value,
                "end_reason_text": self.end_reason.description,
                "frames": frames, "problems": [p.to_json() for p in self.problems]}


@dataclass(frozen=True)
class StackReport:
    arch: Arch
    pointer_size: int
    threads: Tuple[ThreadStack, ...]
    problems: Tuple[Problem, ...] = ()

    def to_json(self) -> Dict[str, Any]:
        return {"arch": self.arch.value, "pointer_size": self.pointer_size,
                "threads": [t.to_json(self.pointer_size) for t in self.threads],
                "problems": [p.to_json() for p in self.problems]}


def context_of(target: Target, thread: Thread) -> Tuple[Optional[Dict[str, int]], str]:
    exc = target.exception()
    if exc is not None and exc.thread_id == thread.tid and exc.registers is not None:
        return dict(exc.registers.values), "exception"
    if thread.registers is not None:
        return dict(thread.registers.values), "thread"
    return None, "none"


def walk_thread(ctx: WalkContext, thread: Thread, registers: Optional[Dict[str, int]] = None,
                *, max_frames: int = MAX_FRAMES, symbolize: bool = True,
                index: Optional[int] = None) -> ThreadStack:
    """Walk one thread from ``registers`` (default: exception context or thread context).
    ``index`` is the thread's ``~N`` in the dump, carried into the result."""
    source = "given"
    if registers is None:
        registers, source = context_of(ctx.target, thread)
    arch = ctx.arch
    rule = CALLER_RULES.get(arch)
    problems: List[Problem] = []
    ip = registers.get(arch.ip_register) if registers else None
    sp = registers.get(arch.sp_register) if registers else None
    if registers is None or rule is None or ip is None or sp is None:
        why = (f"no unwinder for {arch.value}" if rule is None
               else "the thread has no context (no instruction or stack pointer)")
        return ThreadStack(thread.tid, (), (), EndReason.UNREADABLE, source,
                           (Problem("stackwalk.no_start", why),), name=thread.name, index=index)
    ctx.notes = {"stack": (thread.stack_start, thread.stack_end) if thread.stack_end else None,
                 "stale_stack": thread.tid == _dump_thread_id(ctx.target)}
    ctx.use_stack(thread.stack_start, thread.stack_end)
    frame = Frame(0, ip, sp, Trust.CONTEXT, registers.get(arch.fp_register), dict(registers))
    frames = [frame]
    seen = {(ip, sp)}
    end = EndReason.NONE
    while end is EndReason.NONE:
        if len(frames) >= max_frames:
            end = EndReason.FRAME_LIMIT
            break
        try:
            caller = rule(ctx, frame)
        except DumpkitError as exc:
            problems.append(Problem("stackwalk.rule_failed", f"frame {frame.index}: {exc}"))
            caller = None
        if caller is None:
            end = EndReason.NO_CALLER
        elif caller.ip < MIN_IP:
            end = EndReason.IP_TOO_LOW
        elif caller.sp <= frame.sp:
            end = EndReason.SP_NOT_INCREASING
        elif (caller.ip, caller.sp) in seen:
            end = EndReason.CYCLE
        else:
            seen.add((caller.ip, caller.sp))
            frames.append(caller)
            frame = caller
            if thread.stack_end is not None and caller.sp >= thread.stack_end:
                end = EndReason.STACK_END
    problems.extend(ctx.notes.get("problems", []))
    frames[-1] = replace(frames[-1], end_reason=end)
    locations: Tuple[Any, ...] = tuple(None for _ in frames)
    if symbolize:
        locations = tuple(ctx.location(f.ip, caller=f.index > 0) for f in frames)
        frames = [_named(f, loc) for f, loc in zip(frames, locations)]
    return ThreadStack(thread.tid, tuple(frames), locations, end, source, tuple(problems),
                       name=thread.name, index=index)


def _dump_thread_id(target: Target) -> Optional[int]:
    """The thread that wrote the dump, when the target says (minidumps with Breakpad's info
    stream); its scans need anchored candidates (frame_scan's ``stale_stack``)."""
    method = getattr(target, "dump_thread_id", None)
    return method() if method is not None else None


def _named(frame: Frame, loc: Any) -> Frame:
    if loc is None or loc.module is None:
        return frame
    # the constructor, not dataclasses.replace: this runs once per frame of every walk and
    # replace's field introspection cost several times the construction
    return Frame(frame.index, frame.ip, frame.sp, frame.trust, frame.fp, frame.registers,
                 loc.module, loc.symbol, loc.displacement, frame.end_reason, frame.problems)


def frame_symbols(target: Target, frames, resolver: Any = None, *,
                  ctx: Optional[WalkContext] = None) -> Tuple[Any, ...]:
    """One Location (or None) per frame: the resolver's symbols, else the nearest export of the
    module's image in the dump (status ``export``), like ``k`` without PDBs.

    For callers that walk or receive frames themselves (the deadlock analysis recognises waits
    by these names: RtlEnterCriticalSection, NtWaitForSingleObject, WaitForSingleObject ...).
    Frame 0 is looked up at its IP, callers at the byte before their return address.
    """
    ctx = ctx or WalkContext(target, resolver)
    return tuple(ctx.location(f.ip, caller=f.trust is not Trust.CONTEXT) for f in frames)


def walk_threads(ctx: WalkContext, tids: Optional[Iterable[int]] = None, *,
                 max_frames: int = MAX_FRAMES) -> Iterator[ThreadStack]:
    """Walk the chosen threads (all by default) of ``ctx.target`` one by one, in dump order.

    A generator, so a caller that renders each stack as it comes (``stack --json`` of 20k
    threads) holds one thread's frames at a time; ``ctx.problems`` is complete once it is
    exhausted."""
    wanted = None if tids is None else set(tids)
    for i, thread in enumerate(ctx.target.threads()):
        if wanted is None or thread.tid in wanted:
            yield walk_thread(ctx, thread, max_frames=max_frames, index=i)


def walk_target(target: Target, resolver: Any = None, *, tids: Optional[List[int]] = None,
                max_frames: int = MAX_FRAMES) -> StackReport:
    """Walk the chosen threads (all by default) of ``target``."""
    ctx = WalkContext(target, resolver)
    stacks = tuple(walk_threads(ctx, tids, max_frames=max_frames))
    return StackReport(target.arch, target.pointer_size, stacks, tuple(ctx.problems))


__all__ = ["walk_thread", "walk_threads", "walk_target", "frame_symbols", "ThreadStack", "StackReport", "CALLER_RULES",
           "MAX_FRAMES", "context_of"]
