"""``dumpkit stack DUMP``: thread call stacks like WinDbg's ``k``, with each frame's trust."""

from __future__ import annotations

import os
from typing import Optional, Tuple

import click

from commands.common import json_option, load_target
from commands.thread_select import THREAD_INDEX, selected_tids
from commands.output import echo, emit_json_streamed
from toolkit.model.hexfmt import hex_addr, hex_int


def _addr(value: Optional[int], ps: int) -> str:
    """WinDbg's address form: 8 hex digits, or 16 split by a backtick on 64-bit targets."""
    if value is None:
        return "-" * (8 if ps == 4 else 17)
    if ps == 4:
        return f"{value & 0xFFFFFFFF:08x}"
    return f"{value >> 32:08x}`{value & 0xFFFFFFFF:08x}"


def _split_selectors(dump: Optional[str], threads: Tuple[str, ...]
                     ) -> Tuple[Optional[str], Tuple[str, ...]]:
    """Inside a debugger (no DUMP) the first argument may already be ``~N``."""
    if dump is not None and THREAD_INDEX.fullmatch(dump) and not os.path.exists(dump):
        return None, (dump, *threads)
    return dump, threads


def _header(stack) -> str:
    index = f"~{stack.index} " if stack.index is not None else ""
    name = f' "{stack.name}"' if stack.name else ""
    return (f"Thread {index}{stack.tid} ({hex_int(stack.tid)}){name},"
            f" context: {stack.context_source}")


@click.command("stack")
@click.argument("dump", required=False, type=click.Path(dir_okay=False))
@click.argument("threads", nargs=-1, metavar="[THREAD]...")
@click.option("--thread", "tid", type=str, default=None,
              help="Thread id (decimal or 0x hex) or ~N index; default: the faulting thread,"
                   " else the first. THREAD arguments do the same: ~3, ~*, 0x1f4.")
@click.option("--all-threads", is_flag=True, help="Every thread (like ~*k).")
@click.option("--symbol-path", "-y", default=None,
              help="Symbol path (_NT_SYMBOL_PATH syntax); default: $_NT_SYMBOL_PATH.")
@click.option("--max-frames", default=4096, show_default=True, type=click.IntRange(1, 65536))
@json_option
@click.pass_context
def stack(ctx: click.Context, dump: Optional[str], threads: Tuple[str, ...], tid: Optional[str],
          all_threads: bool, symbol_path: Optional[str], max_frames: int, as_json: bool) -> None:
    """Walk thread stacks: context, unwind info, frame pointer, scan (trust per frame).

    THREAD: ~N (WinDbg's thread index), ~* (all) or a thread id; quote ~N in a shell.
    """
    from toolkit.stackwalk.context import WalkContext
    from toolkit.stackwalk.walker import walk_threads
    from commands.common import symbol_resolver

    dump, specs = _split_selectors(dump, threads)
    if tid is not None:
        specs = (tid, *specs)
    target = load_target(ctx, dump)
    tids = None
    if specs:
        tids = selected_tids([t.tid for t in target.threads()], specs)
    elif not all_threads:
        exc = target.exception()
        threads = target.threads()
        if exc is not None:
            tids = [exc.thread_id]
        elif threads:
            tids = [threads[0].tid]
    from commands.symbol_notes import emit_symbol_note, with_symbols

    resolver = symbol_resolver(ctx, symbol_path)
    walk = WalkContext(target, resolver)
    stacks = walk_threads(walk, tids, max_frames=max_frames)      # walked as they are printed
    ps = target.pointer_size
    if as_json:
        emit_json_streamed("stack", {"arch": target.arch.value, "pointer_size": ps}, "threads",
                           (s.to_json(ps) for s in stacks),
                           lambda: with_symbols(ctx, {"problems": [p.to_json() for p in
                                                                   walk.problems]}, [resolver]))
        return
    width = 8 if ps == 4 else 17
    for stack in stacks:
        echo(_header(stack))
        echo(f" # {'ChildEBP' if ps == 4 else 'Child-SP':<{width}} "
                   f"{'RetAddr':<{width}} {'Trust':<13} Call Site")
        for i, (frame, loc) in enumerate(zip(stack.frames, stack.locations)):
            ret = stack.frames[i + 1].ip if i + 1 < len(stack.frames) else None
            site = loc.format(ps) if loc is not None else hex_addr(frame.ip, ps)
            child = frame.registers.get("ebp") if ps == 4 else frame.sp   # WinDbg's k
            echo(f"{frame.index:02x} {_addr(child, ps)} {_addr(ret, ps)} "
                       f"{frame.trust.value:<13} {site}")
        echo(f"(walk ended: {stack.end_reason.description})")
        for problem in stack.problems:
            echo(f"  problem: {problem.code}: {problem.message}")
        echo("")
    emit_symbol_note(ctx, [resolver])
