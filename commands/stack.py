"""``dumpkit stack DUMP``: thread call stacks like WinDbg's ``k``, with each frame's trust."""

from __future__ import annotations

from typing import Optional

import click

from commands.common import json_option, load_target
from commands.output import echo, emit_json
from toolkit.model.hexfmt import hex_addr, hex_int


def _addr(value: Optional[int], ps: int) -> str:
    """WinDbg's address form: 8 hex digits, or 16 split by a backtick on 64-bit targets."""
    if value is None:
        return "-" * (8 if ps == 4 else 17)
    if ps == 4:
        return f"{value & 0xFFFFFFFF:08x}"
    return f"{value >> 32:08x}`{value & 0xFFFFFFFF:08x}"


@click.command("stack")
@click.argument("dump", required=False, type=click.Path(dir_okay=False))
@click.option("--thread", "tid", type=str, default=None,
              help="Thread id (decimal or 0x hex); default: the faulting thread, else the first.")
@click.option("--all-threads", is_flag=True, help="Every thread (like ~*k).")
@click.option("--symbol-path", "-y", default=None,
              help="Symbol path (_NT_SYMBOL_PATH syntax); default: $_NT_SYMBOL_PATH.")
@click.option("--max-frames", default=4096, show_default=True, type=click.IntRange(1, 65536))
@json_option
@click.pass_context
def stack(ctx: click.Context, dump: Optional[str], tid: Optional[str], all_threads: bool,
          symbol_path: Optional[str], max_frames: int, as_json: bool) -> None:
    """Walk thread stacks: context, unwind info, frame pointer, scan (trust per frame)."""
    from toolkit.stackwalk.walker import walk_target
    from commands.common import symbol_resolver

    target = load_target(ctx, dump)
    tids = None
    if tid is not None:
        try:
            tids = [int(tid, 0)]
        except ValueError:
            raise click.BadParameter(f"not a thread id: {tid}", param_hint="--thread") from None
        if tids[0] not in {t.tid for t in target.threads()}:
            raise click.BadParameter(f"no thread {tid} in the dump", param_hint="--thread")
    elif not all_threads:
        exc = target.exception()
        threads = target.threads()
        if exc is not None:
            tids = [exc.thread_id]
        elif threads:
            tids = [threads[0].tid]
    report = walk_target(target, symbol_resolver(ctx, symbol_path), tids=tids,
                         max_frames=max_frames)
    if as_json:
        emit_json("stack", report.to_json())
        return
    ps = report.pointer_size
    width = 8 if ps == 4 else 17
    for stack in report.threads:
        echo(f"Thread {stack.tid} ({hex_int(stack.tid)}), context: {stack.context_source}")
        echo(f" # {'ChildEBP' if ps == 4 else 'Child-SP':<{width}} "
                   f"{'RetAddr':<{width}} {'Trust':<13} Call Site")
        for i, (frame, loc) in enumerate(zip(stack.frames, stack.locations)):
            ret = stack.frames[i + 1].ip if i + 1 < len(stack.frames) else None
            site = loc.format(ps) if loc is not None else hex_addr(frame.ip, ps)
            echo(f"{frame.index:02x} {_addr(frame.sp, ps)} {_addr(ret, ps)} "
                       f"{frame.trust.value:<13} {site}")
        echo(f"(walk ended: {stack.end_reason.value})")
        for problem in stack.problems:
            echo(f"  problem: {problem.code}: {problem.message}")
        echo("")
