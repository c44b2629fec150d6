"""Predecessor search over sorted addresses, faster than ``numpy.searchsorted`` for big batches.

``BucketIndex(starts).find(addrs)`` equals ``np.searchsorted(starts, addrs, "right") - 1``: the
index of the last start not above each address. Why not searchsorted itself: measured here it
costs ~60 ns per address for random lookups in a 7k-entry table (13 levels of binary search,
each a mispredicted branch) and still ~12 ns in a 5-entry one; a batch of 1M trace addresses
spent three quarters of its time in it.

Instead the address space is cut into buckets of ``2**shift`` bytes and ``first[b]`` holds the
answer for the bucket's lowest address. An address then costs a subtraction, a shift, one gather
and as many vectorized correction steps (``r += following[r] <= addr``) as the densest bucket
holds starts. Buckets holding more than ``MAX_STEPS`` starts are marked -1; their few addresses
fall back to searchsorted. The shift is the smallest whose table fits the budget.

Module tables are sparse in a 64-bit space (an exe at 0x7ff6'0000'0000, DLLs near 0x7ffe...), so
starts are grouped into clusters wherever a gap would cost more than ``SPLIT_BUCKETS`` empty
buckets, and an address picks its cluster by comparing against each cluster's base (searchsorted
over the bases when there are many clusters). Everything below the first non-zero start is
clamped to one address, so the usual empty space under the lowest module costs nothing.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

MAX_STEPS = 2              # correction steps applied to every address
MIN_BUDGET = 1 << 20       # buckets allowed whatever the table size (4 MiB of int32)
BUDGET_PER_START = 2       # ... or this many buckets per start, whichever is larger
SPLIT_BUCKETS = 1 << 18    # a gap wider than this many buckets starts a new cluster
MAX_COMPARE_CLUSTERS = 8   # above this, an address's cluster is found by searchsorted
_U64_MAX = np.uint64(0xFFFFFFFFFFFFFFFF)


class BucketIndex:
    """Sorted uint64 ``starts`` (``starts[0] == 0``) with a bucket table for batched lookups."""

    def __init__(self, starts: np.ndarray, *, shift: Optional[int] = None) -> None:
        starts = np.ascontiguousarray(starts, dtype=np.uint64)
        if not len(starts) or int(starts[0]) != 0:
            raise ValueError("starts must be non-empty and begin at address 0")
        if len(starts) > 1 and bool((starts[1:] < starts[:-1]).any()):
            raise ValueError("starts must be sorted")
        if int(starts[-1]) == int(_U64_MAX):
            raise ValueError("a start at 2**64-1 leaves no room for the end sentinel")
        self.starts = starts
        # following[j] = starts[j + 1]; the last entry never lets an address move past it.
        self.following = np.append(starts[1:], _U64_MAX)
        self.lowest = int(np.searchsorted(starts, 0, side="right"))  # first non-zero start
        if self.lowest == len(starts):                     # every start is 0
            self.shift, self.steps, self.has_dense = 0, 0, False
            self.cluster_base = np.zeros(1, np.uint64)
            self.cluster_last = np.zeros(1, np.uint64)
            self.cluster_offset = np.zeros(1, np.uint64)
            self.first = np.full(1, len(starts) - 1, dtype=np.intp)
            return
        upper = starts[self.lowest:]
        self.floor = int(upper[0]) - 1                     # stands for every address below
        self.shift = _choose_shift(upper, self.floor) if shift is None else shift
        self._build(upper)

    def _build(self, upper: np.ndarray) -> None:
        s = np.uint64(self.shift)
        heads = _cluster_heads(upper, self.floor, self.shift)
        base = np.concatenate([[np.uint64(self.floor)], upper[heads[1:]]]).astype(np.uint64)
        tails = np.append(heads[1:] - 1, len(upper) - 1)
        last = (upper[tails] - base) >> s                  # last bucket of each cluster, relative
        lengths = last + np.uint64(1)
        offset = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.uint64)
        self.cluster_base, self.cluster_last, self.cluster_offset = base, last, offset
        count = int(lengths.sum())

        cluster = np.repeat(np.arange(len(heads)), np.diff(np.append(heads, len(upper))))
        rel = upper - base[cluster]
        floor_bucket = (offset[cluster] + (rel >> s)).astype(np.intp)
        exact = (rel & ((np.uint64(1) << s) - np.uint64(1))) == 0
        # first[b]: the last start at or below bucket b's lowest address. A start marks the
        # bucket it begins (exactly at its lowest address) or the next one; a running maximum
        # fills the buckets in between.
        marks = np.full(count + 1, -1, dtype=np.intp)
        ceil_bucket = floor_bucket + (~exact)
        index = np.arange(self.lowest, self.lowest + len(upper), dtype=np.intp)
        marks[ceil_bucket] = index                         # increasing: the last write wins
        marks[0] = max(int(marks[0]), self.lowest - 1)
        first = np.maximum.accumulate(marks[:count])
        inside = np.bincount(floor_bucket[~exact], minlength=count)
        self.steps = int(min(inside.max(initial=0), MAX_STEPS))
        dense = inside > self.steps
        self.has_dense = bool(dense.any())
        first[dense] = -1
        self.first = first

    # -- lookups ----------------------------------------------------------------------------

    def find(self, addrs: np.ndarray) -> np.ndarray:
        """Index of the last start <= each address (intp), as searchsorted(..., "right") - 1."""
        addrs = np.asarray(addrs, dtype=np.uint64)
        if len(addrs) and addrs.max() == _U64_MAX:     # would step past the sentinel; no start
            addrs = np.minimum(addrs, _U64_MAX - np.uint64(1))    # is 2**64-1, same answer
        r = self.first[self._bucket(addrs)]
        if self.has_dense:
            slow = np.flatnonzero(r < 0)
            if len(slow):
                r[slow] = np.searchsorted(self.starts, addrs[slow], side="right") - 1
        if self.steps:
            nxt = np.empty(len(addrs), dtype=np.uint64)
            move = np.empty(len(addrs), dtype=bool)
            for _ in range(self.steps):
                np.take(self.following, r, out=nxt)
                np.less_equal(nxt, addrs, out=move)
                r += move
        return r

    def _bucket(self, addrs: np.ndarray) -> np.ndarray:
        s = np.uint64(self.shift)
        rel = np.maximum(addrs, self.cluster_base[0])
        n_clusters = len(self.cluster_base)
        if n_clusters == 1:
            rel -= self.cluster_base[0]
            rel >>= s
            np.minimum(rel, self.cluster_last[0], out=rel)
            return rel.view(np.int64)
        if n_clusters <= MAX_COMPARE_CLUSTERS:
            cluster = np.zeros(len(addrs), dtype=np.intp)
            above = np.empty(len(addrs), dtype=bool)
            for base in self.cluster_base[1:]:
                np.greater_equal(addrs, base, out=above)
                cluster += above
        else:
            cluster = np.searchsorted(self.cluster_base, rel, side="right") - 1
        rel -= self.cluster_base[cluster]
        rel >>= s
        np.minimum(rel, self.cluster_last[cluster], out=rel)
        rel += self.cluster_offset[cluster]
        return rel.view(np.int64)


def _cluster_heads(upper: np.ndarray, floor: int, shift: int) -> np.ndarray:
    """Index (into ``upper``) of each cluster's first start; cluster 0 begins at ``floor``."""
    s = np.uint64(shift)
    gaps = (upper[1:] >> s) - (upper[:-1] >> s)
    return np.concatenate([[0], np.flatnonzero(gaps > SPLIT_BUCKETS) + 1])


def _choose_shift(upper: np.ndarray, floor: int) -> int:
    """The smallest bucket size whose table (wide gaps split into clusters) fits the budget."""
    budget = max(MIN_BUDGET, BUDGET_PER_START * (len(upper) + 1))
    points = np.concatenate([[np.uint64(floor)], upper]).astype(np.uint64)
    for shift in range(0, 64):
        s = np.uint64(shift)
        gaps = (points[1:] >> s) - (points[:-1] >> s)
        used = int(np.where(gaps > SPLIT_BUCKETS, np.uint64(1), gaps).sum()) + 1
        if used <= budget:
            return shift
    return 63


__all__ = ["BucketIndex"]
