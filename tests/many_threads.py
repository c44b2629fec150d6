"""Build an x64 minidump with thousands of threads, each with its own stack and context.

The base is the shipped Wine sample ``deadlock_cs_x64-full-trim-cv.dmp`` (its three threads wait
in ntdll, reached through kernelbase and the sample's own code; ntdll, kernelbase and the exe
hold their headers and unwind tables in dump memory). Thread ``k`` of the new dump is a copy of
template thread ``k % 3``: its stack bytes are copied to a stack of its own at
``STACK_AREA + k * STACK_STRIDE`` (same offset within the 64 KB slot), and every qword of the
copied stack and every register that pointed into the template's stack is moved by the same
delta, so frame-pointer and unwind-info walks of the copy find the same frames as the template.
A walker that looks up memory per thread therefore meets ``n`` distinct stack ranges in the
Memory64List, as in a real process, not one shared stack.

The ThreadList and Memory64List streams are written anew at the end of the file and their
directory entries repointed; the other streams stay as they are. Used by bench/bench_threads.py
and the thread-scaling tests.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import List, Tuple

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "dumps" / \
    "deadlock_cs_x64-full-trim-cv.dmp"
THREAD_LIST, MEMORY64_LIST = 3, 9
STACK_AREA = 0x10000000          # free in the sample's address space up to 0x67fc0000
STACK_STRIDE = 0x10000
MAX_THREADS = (0x67FC0000 - STACK_AREA) // STACK_STRIDE
FIRST_TID = 0x10000

_THREAD = struct.Struct("<IIIIQQIIII")   # MINIDUMP_THREAD: ids, TEB, Stack, ThreadContext
_AMD64_GPRS = range(0x78, 0x100, 8)      # Rax .. R15 and Rip in CONTEXT (AMD64)


def _directory(data: bytes) -> dict:
    count, rva = struct.unpack_from("<II", data, 8)
    entries = {}
    for i in range(count):
        kind, size, at = struct.unpack_from("<III", data, rva + 12 * i)
        entries[kind] = (rva + 12 * i, size, at)
    return entries


def _memory64(data: bytes, at: int) -> List[Tuple[int, bytes]]:
    count, base = struct.unpack_from("<QQ", data, at)
    ranges, offset = [], base
    for i in range(count):
        start, size = struct.unpack_from("<QQ", data, at + 16 + 16 * i)
        ranges.append((start, data[offset:offset + size]))
        offset += size
    return ranges


def _read(ranges: List[Tuple[int, bytes]], address: int, size: int) -> bytes:
    for start, blob in ranges:
        if start <= address and address + size <= start + len(blob):
            return blob[address - start:address - start + size]
    raise ValueError(f"template stack {address:#x}+{size:#x} not in the sample's memory")


def _moved(blob: bytes, lo: int, hi: int, delta: int, offsets) -> bytes:
    out = bytearray(blob)
    for off in offsets:
        value = struct.unpack_from("<Q", out, off)[0]
        if lo <= value < hi:
            struct.pack_into("<Q", out, off, value + delta)
    return bytes(out)


def many_thread_dump(threads: int, path: Path) -> Path:
    """Write a dump of ``threads`` threads (at most ``MAX_THREADS``) to ``path``."""
    if not 1 <= threads <= MAX_THREADS:
        raise ValueError(f"threads must be 1..{MAX_THREADS}")
    data = bytearray(SAMPLE.read_bytes())
    entries = _directory(data)
    _, _, list_at = entries[THREAD_LIST]
    templates = []
    ranges = _memory64(data, entries[MEMORY64_LIST][2])
    for i in range(struct.unpack_from("<I", data, list_at)[0]):
        row = list(_THREAD.unpack_from(data, list_at + 4 + _THREAD.size * i))
        start, size, ctx_size, ctx_rva = row[5], row[6], row[8], row[9]
        templates.append((row, _read(ranges, start, size), bytes(data[ctx_rva:ctx_rva + ctx_size])))

    rows, contexts, stacks = [], [], []
    context_at = (len(data) + 15) & ~15
    for k in range(threads):
        row, stack, context = templates[k % len(templates)]
        start, size = row[5], row[6]
        new_start = STACK_AREA + k * STACK_STRIDE + (start & (STACK_STRIDE - 1))
        delta = new_start - start
        stacks.append((new_start, _moved(stack, start, start + size, delta,
                                         range(0, size - 7, 8))))
        contexts.append(_moved(context, start, start + size, delta, _AMD64_GPRS))
        new = list(row)
        new[0], new[5] = FIRST_TID + 4 * k, new_start
        rows.append(new)
    offset = context_at
    for new, context in zip(rows, contexts):
        new[9] = offset
        offset += len(context)

    thread_list = struct.pack("<I", threads) + b"".join(_THREAD.pack(*r) for r in rows)
    thread_list_at = offset
    memory = sorted(ranges + stacks, key=lambda r: r[0])
    memory_at = thread_list_at + len(thread_list)
    header = 16 + 16 * len(memory)
    memory_list = struct.pack("<QQ", len(memory), memory_at + header) + b"".join(
        struct.pack("<QQ", start, len(blob)) for start, blob in memory)

    data += bytes(context_at - len(data))
    data += b"".join(contexts) + thread_list + memory_list
    for entry_at, kind, size, at in ((entries[THREAD_LIST][0], THREAD_LIST, len(thread_list),
                                      thread_list_at),
                                     (entries[MEMORY64_LIST][0], MEMORY64_LIST, len(memory_list),
                                      memory_at)):
        struct.pack_into("<III", data, entry_at, kind, size, at)
    with open(path, "wb") as handle:
        handle.write(data)
        for _, blob in memory:
            handle.write(blob)
    return path


__all__ = ["many_thread_dump", "MAX_THREADS", "FIRST_TID", "STACK_AREA", "STACK_STRIDE"]
