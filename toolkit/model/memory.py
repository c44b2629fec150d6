"""The target's memory as a minidump holds it: sorted ranges of address space backed by file bytes.

Why our own map rather than the ``minidump`` package's reader: that reader rescans its segment
list in Python on every read (~14 ms per read on a 100k-range dump); analyses such as stack scans
and wait-graph building do millions of reads. Here the ranges live in numpy arrays (batched
reads are one ``searchsorted`` and one gather) and in ``array('Q')`` copies that ``bisect``
searches in C (scalar reads, a few µs). The file is never copied: reads slice a memoryview of the
caller's buffer (usually an mmap).

Normalisation, done once in the constructor, makes every later read simple:

* empty ranges are dropped; ranges that would wrap past 2**64 are clipped;
* ranges whose bytes run past the end of the file (a truncated dump) are clipped to what the file
  holds, or dropped, and a ``Problem`` says how much was lost;
* ranges are sorted by start; where ranges overlap, the one that starts lower keeps the shared
  bytes (at equal starts, the one given first: the MemoryList before the Memory64List when maps
  are merged in that order), so every address has exactly one source of bytes.

Ranges that touch in memory AND lie back to back in the file (a Memory64List's usual layout) are
then joined into runs, so most reads, and ``view``, are one slice even across region borders.
"""

from __future__ import annotations

import mmap
from array import array
from collections import abc
from bisect import bisect_right
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np

from toolkit.model.errors import UnreadableMemory
from toolkit.model.target import MemoryRegion, Problem

MAX_READ_SIZE = 1 << 28       # 256 MiB: larger single reads raise rather than allocate
MAX_BATCH_BYTES = 1 << 28     # bound on n * size for one read_batch call
OVERLAP_CHECK_BYTES = 1 << 26 # bytes compared to tell harmless overlaps from conflicting ones
_U64_MAX = (1 << 64) - 1


def _u64(values) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(values).ravel(), dtype=np.uint64)


def _q(values: np.ndarray) -> array:
    """An ``array('Q')`` copy: ``bisect`` and indexing on it run in C and return Python ints."""
    out = array("Q")
    out.frombytes(values.astype("=u8").tobytes())
    return out


def _readonly(values: np.ndarray) -> np.ndarray:
    values.flags.writeable = False
    return values


class MemoryRegions(abc.Sequence):
    """A read-only Sequence[MemoryRegion] made on access from parallel start/size columns."""

    def __init__(self, starts: np.ndarray, sizes: np.ndarray) -> None:
        self.starts = starts
        self.sizes = sizes

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return list(MemoryRegions(self.starts[index], self.sizes[index]))
        return MemoryRegion(int(self.starts[index]), int(self.sizes[index]))

    def __iter__(self) -> Iterator[MemoryRegion]:
        for start, size in zip(self.starts.tolist(), self.sizes.tolist()):
            yield MemoryRegion(start, size)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, abc.Sequence):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    def __repr__(self) -> str:
        return f"<MemoryRegions: {len(self)} ranges>"


class MemoryMap:
    """Address -> file bytes for one dump.

    ``buffer`` is the whole file (bytes, bytearray or mmap); ``starts``/``sizes`` are the ranges'
    virtual addresses and lengths, ``file_offsets`` where their bytes begin in ``buffer``.
    """

    def __init__(self, buffer, starts, sizes, file_offsets, *,
                 problems: Sequence[Problem] = (), max_read: int = MAX_READ_SIZE) -> None:
        self._buffer = buffer
        self._mv = memoryview(buffer).cast("B")
        # bytes and mmap slice straight to bytes; other buffers go through the memoryview
        self._src = buffer if isinstance(buffer, (bytes, mmap.mmap)) else None
        self.max_read = max_read
        self.problems: List[Problem] = list(problems)
        self._overlaps: List[Tuple[int, int, int]] = []
        starts, sizes, offsets = _u64(starts), _u64(sizes), _u64(file_offsets)
        if not (len(starts) == len(sizes) == len(offsets)):
            raise ValueError("starts, sizes and file_offsets must have the same length")
        starts, sizes, offsets = self._normalise(starts, sizes, offsets)
        self._starts = _readonly(starts)
        self._sizes = _readonly(sizes)
        self._offsets = _readonly(offsets)
        self._index_runs()
        self._check_overlaps()

    # ---- construction -------------------------------------------------------------------------

    @classmethod
    def from_memory_list(cls, buffer, descriptors: np.ndarray) -> "MemoryMap":
        """From a MINIDUMP_MEMORY_DESCRIPTOR array: each range's bytes are at its own Rva."""
        return cls(buffer, descriptors["StartOfMemoryRange"], descriptors["DataSize"],
                   descriptors["Rva"])

    @classmethod
    def from_memory64_list(cls, buffer, base_rva: int, descriptors64: np.ndarray) -> "MemoryMap":
        """From a MINIDUMP_MEMORY_DESCRIPTOR64 array: bytes lie back to back from ``base_rva``."""
        sizes = _u64(descriptors64["DataSize"])
        # A size past the file only pushes later ranges past the file too, so clipping sizes to
        # len+1 keeps every offset's meaning while keeping the running sum far from 2**64.
        clipped = np.minimum(sizes, np.uint64(len(memoryview(buffer).cast("B")) + 1))
        offsets = np.empty(len(sizes), np.uint64)
        if len(sizes):
            offsets[0] = 0
            np.cumsum(clipped[:-1], out=offsets[1:])
            offsets += np.uint64(base_rva)
        return cls(buffer, descriptors64["StartOfMemoryRange"], sizes, offsets)

    @classmethod
    def merged(cls, *maps: "MemoryMap") -> "MemoryMap":
        """One map over several lists of the same file (MemoryList and Memory64List together).

        Where ranges overlap, the earlier map's bytes win at equal starts (see the module doc).
        """
        if not maps:
            raise ValueError("merged() needs at least one map")
        first = maps[0]
        if any(m._buffer is not first._buffer for m in maps):
            raise ValueError("merged maps must read the same buffer")
        problems = [p for m in maps for p in m.problems]
        return cls(first._buffer,
                   np.concatenate([m._starts for m in maps]),
                   np.concatenate([m._sizes for m in maps]),
                   np.concatenate([m._offsets for m in maps]),
                   problems=problems, max_read=first.max_read)

    def _normalise(self, starts: np.ndarray, sizes: np.ndarray,
                   offsets: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        keep = sizes > 0
        starts, sizes, offsets = starts[keep], sizes[keep], offsets[keep]

        room = np.uint64(_U64_MAX) - starts
        wraps = sizes > room
        if wraps.any():
            sizes = np.where(wraps, room, sizes)
            self.problems.append(Problem("memory.wraps", f"{int(wraps.sum())} memory ranges run "
                                         "past the top of the address space; clipped"))

        file_len = np.uint64(len(self._mv))
        in_file = np.where(offsets < file_len, file_len - np.minimum(offsets, file_len),
                           np.uint64(0))
        short = sizes > in_file
        if short.any():
            lost = int((sizes[short] - in_file[short]).sum(dtype=np.float64))
            dropped = int((short & (in_file == 0)).sum())
            self.problems.append(Problem(
                "memory.truncated",
                f"{int(short.sum())} memory ranges ({dropped} entirely) have bytes past the end "
                f"of the file ({len(self._mv):#x} bytes); {lost:#x} bytes of memory are missing"))
            sizes = np.minimum(sizes, in_file)
            keep = sizes > 0
            starts, sizes, offsets = starts[keep], sizes[keep], offsets[keep]

        order = np.argsort(starts, kind="stable")
        starts, sizes, offsets = starts[order], sizes[order], offsets[order]
        if len(starts) < 2:
            return starts, sizes, offsets
        ends = starts + sizes
        covered = np.empty_like(ends)
        covered[0] = 0
        np.maximum.accumulate(ends[:-1], out=covered[1:])
        new_starts = np.maximum(starts, covered)
        clipped = new_starts > starts
        if clipped.any():
            # shared addresses: [start, min(end, covered)) of each clipped range, its bytes at
            # its own file offset; checked against the winners once the runs are indexed
            shared = np.minimum(ends, new_starts) - starts
            self._overlaps = list(zip(starts[clipped].tolist(), shared[clipped].tolist(),
                                      offsets[clipped].tolist()))
            keep = new_starts < ends
            offsets = offsets + (new_starts - starts)
            starts, sizes, offsets = new_starts[keep], (ends - new_starts)[keep], offsets[keep]
        return starts, sizes, offsets

    def _index_runs(self) -> None:
        starts, sizes, offsets = self._starts, self._sizes, self._offsets
        ends = starts + sizes
        joins = np.zeros(len(starts), bool)
        if len(starts) > 1:
            joins[1:] = (starts[1:] == ends[:-1]) & (offsets[1:] == offsets[:-1] + sizes[:-1])
        first = ~joins
        last = np.ones(len(starts), bool)
        last[:-1] = first[1:]
        self._run_starts = _readonly(starts[first].copy())
        self._run_sizes = _readonly(ends[last] - starts[first])
        self._run_offsets = _readonly(offsets[first].copy())
        self._rs, self._rz, self._ro = (_q(self._run_starts), _q(self._run_sizes),
                                        _q(self._run_offsets))
        self._region_starts, self._region_sizes = _q(starts), _q(sizes)
        self._np = np.frombuffer(self._mv, dtype=np.uint8)

    def _check_overlaps(self, budget: int = OVERLAP_CHECK_BYTES) -> None:
        """Overlaps are normal (Breakpad saves the bytes around the faulting IP, which may lie
        in a saved stack; Wine saves some ranges twice), so only overlaps whose bytes differ
        from the kept ones are a problem. Comparison stops after ``budget`` bytes."""
        differ = unchecked = 0
        for start, n, file_offset in self._overlaps:
            if n > budget:
                unchecked += 1
                continue
            budget -= n
            if self.read_partial(start, n) != self._slice(file_offset, n):
                differ += 1
        self._overlaps = []
        if differ or unchecked:
            self.problems.append(Problem(
                "memory.overlap", f"{differ + unchecked} memory ranges overlap lower ones with "
                f"different (or {unchecked} unchecked) bytes; the lower range's bytes are used"))

    # ---- the regions --------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._starts)

    @property
    def starts(self) -> np.ndarray:
        return self._starts

    @property
    def sizes(self) -> np.ndarray:
        return self._sizes

    @property
    def file_offsets(self) -> np.ndarray:
        return self._offsets

    @property
    def total_size(self) -> int:
        return int(self._sizes.sum(dtype=np.uint64))

    def regions(self) -> "MemoryRegions":
        """Every range, lowest first, after normalisation (overlaps resolved, truncation clipped).

        A sequence over the numpy columns: a full dump has 10^5..10^6 ranges and building a
        MemoryRegion for each costs ~0.6 µs, so they are made only when asked for."""
        return MemoryRegions(self._starts, self._sizes)

    def find(self, address: int) -> Optional[MemoryRegion]:
        """The range holding ``address``, or None."""
        i = bisect_right(self._region_starts, address) - 1 if address >= 0 else -1
        if i >= 0 and address - self._region_starts[i] < self._region_sizes[i]:
            return MemoryRegion(self._region_starts[i], self._region_sizes[i])
        return None

    # ---- scalar reads -------------------------------------------------------------------------

    def _pieces(self, address: int, size: int) -> Tuple[List[Tuple[int, int]], int]:
        """(file offset, length) pieces covering the readable prefix of [address, address+size)."""
        pieces: List[Tuple[int, int]] = []
        got = 0
        if address < 0 or size <= 0:
            return pieces, got
        i = bisect_right(self._rs, address) - 1
        if i < 0:
            return pieces, got
        here = address
        while got < size and i < len(self._rs):
            off = here - self._rs[i]
            if off < 0 or off >= self._rz[i]:
                break
            n = min(self._rz[i] - off, size - got)
            pieces.append((self._ro[i] + off, n))
            got += n
            here += n
            i += 1
        return pieces, got

    def _slice(self, file_offset: int, n: int) -> bytes:
        if self._src is not None:
            return self._src[file_offset:file_offset + n]
        return self._mv[file_offset:file_offset + n].tobytes()

    def _join(self, pieces: List[Tuple[int, int]]) -> bytes:
        if len(pieces) == 1:
            return self._slice(*pieces[0])
        return b"".join(self._slice(fo, n) for fo, n in pieces)

    def read(self, address: int, size: int) -> bytes:
        """Exactly ``size`` bytes at ``address``, crossing borders between adjacent ranges.

        Raises UnreadableMemory when any byte is absent or ``size`` exceeds ``max_read``.
        """
        data = self.try_read(address, size)
        if data is None:
            raise UnreadableMemory(address, size)
        return data

    def try_read(self, address: int, size: int) -> Optional[bytes]:
        """``read`` without the exception: None where ``read`` raises UnreadableMemory.

        Walkers probe memory that is often absent (code bytes of minidumps without module
        memory, stale pointers); building and catching an exception per probe cost more than
        the read itself."""
        if 0 < size <= self.max_read and address >= 0:
            i = bisect_right(self._rs, address) - 1
            if i >= 0:
                off = address - self._rs[i]
                if off + size <= self._rz[i]:
                    return self._slice(self._ro[i] + off, size)
        if size == 0:
            return b""
        if size < 0:
            raise ValueError(f"negative read size {size}")
        if size > self.max_read:
            return None
        pieces, got = self._pieces(address, size)
        return self._join(pieces) if got == size else None

    def read_partial(self, address: int, size: int) -> bytes:
        """The readable prefix of [address, address+size), at most ``max_read`` bytes; maybe b""."""
        if size < 0:
            raise ValueError(f"negative read size {size}")
        pieces, _ = self._pieces(address, min(size, self.max_read))
        return self._join(pieces) if pieces else b""

    def is_readable(self, address: int, size: int = 1) -> bool:
        """Whether every byte of [address, address+size) is in the dump (allocates nothing)."""
        return size >= 0 and (size == 0 or self._pieces(address, size)[1] == size)

    def view(self, address: int, size: int) -> memoryview:
        """A memoryview of the bytes: zero-copy when they lie in one run of file bytes (a copy
        when they cross to a range stored elsewhere). For scans such as
        ``np.frombuffer(m.view(sp, n), '<u8')``. Raises like ``read``."""
        if 0 < size <= self.max_read and address >= 0:
            i = bisect_right(self._rs, address) - 1
            if i >= 0:
                off = address - self._rs[i]
                if off + size <= self._rz[i]:
                    fo = self._ro[i] + off
                    return self._mv[fo:fo + size]
        return memoryview(self.read(address, size))

    def read_u32(self, address: int) -> int:
        return int.from_bytes(self.read(address, 4), "little")

    def read_u64(self, address: int) -> int:
        return int.from_bytes(self.read(address, 8), "little")

    def read_pointer(self, address: int, pointer_size: int) -> int:
        if pointer_size not in (4, 8):
            raise ValueError(f"pointer size must be 4 or 8, not {pointer_size}")
        return int.from_bytes(self.read(address, pointer_size), "little")

    # ---- batched reads ------------------------------------------------------------------------

    def read_batch(self, addresses, size: int) -> Tuple[np.ndarray, np.ndarray]:
        """``size`` bytes at each address: (uint8 array of shape (n, size), bool array ``valid``).

        Rows of unreadable addresses are zero and ``valid`` is False; row i equals
        ``read(addresses[i], size)`` wherever that succeeds. One searchsorted and one gather;
        only reads that cross into a range stored elsewhere in the file take a Python step.
        """
        addrs = _u64(addresses)
        n = len(addrs)
        if size <= 0:
            raise ValueError(f"batch read size must be positive, not {size}")
        if n * size > MAX_BATCH_BYTES:
            raise ValueError(f"batch of {n} x {size} bytes exceeds {MAX_BATCH_BYTES:#x} bytes")
        out = np.zeros((n, size), np.uint8)
        valid = np.zeros(n, bool)
        if n == 0 or len(self._run_starts) == 0:
            return out, valid
        idx = np.searchsorted(self._run_starts, addrs, side="right").astype(np.intp) - 1
        inside = idx >= 0
        idx[~inside] = 0
        run_sizes = self._run_sizes[idx]
        off = addrs - self._run_starts[idx]          # garbage where ~inside; masked below
        inside &= off < run_sizes
        fits = inside & (run_sizes >= np.uint64(size)) & (off <= run_sizes - np.uint64(size))
        rows = np.flatnonzero(fits)
        if len(rows):
            file_offsets = (self._run_offsets[idx[rows]] + off[rows]).astype(np.intp)
            # every file offset + size is inside the buffer (normalisation clipped the ranges),
            # so a strided (len-size+1, size) view turns the gather into one fancy index
            windows = np.lib.stride_tricks.as_strided(
                self._np, shape=(len(self._np) - size + 1, size), strides=(1, 1),
                writeable=False)
            out[rows] = windows[file_offsets]
            valid[rows] = True
        for j in np.flatnonzero(inside & ~fits).tolist():
            pieces, got = self._pieces(int(addrs[j]), size)
            if got == size:
                out[j] = np.frombuffer(self._join(pieces), np.uint8)
                valid[j] = True
        return out, valid

    def read_pointers(self, addresses, pointer_size: int) -> Tuple[np.ndarray, np.ndarray]:
        """Little-endian pointers at each address: (uint64 values, bool valid); invalid -> 0."""
        if pointer_size not in (4, 8):
            raise ValueError(f"pointer size must be 4 or 8, not {pointer_size}")
        data, valid = self.read_batch(addresses, pointer_size)
        values = data.view("<u8" if pointer_size == 8 else "<u4").reshape(-1)
        return values.astype(np.uint64), valid

    def close(self) -> None:
        """Let go of the buffer (so an mmap can be closed). Views handed out must be gone."""
        self._np = np.zeros(0, np.uint8)
        self._src = None
        self._mv.release()


__all__ = ["MemoryMap", "MemoryRegions", "MAX_READ_SIZE", "MAX_BATCH_BYTES"]
