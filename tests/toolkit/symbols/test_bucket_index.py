"""BucketIndex answers exactly what ``searchsorted(starts, a, "right") - 1`` answers."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from tests.conftest import corpus_path
from toolkit.symbols import bucket_index
from toolkit.symbols.bucket_index import BucketIndex

U64_MAX = 0xFFFFFFFFFFFFFFFF


def probes(starts: np.ndarray, rng: np.random.Generator, n: int = 20000) -> np.ndarray:
    """Every start, its neighbours, the extremes, and random addresses around the table."""
    s = starts.astype(np.uint64)
    edges = np.concatenate([s, s + np.uint64(1), s[s > 0] - np.uint64(1),
                            np.array([0, 1, U64_MAX, U64_MAX - 1], dtype=np.uint64)])
    lo, hi = int(s[1]) if len(s) > 1 else 0, int(s[-1]) + 0x100000
    spread = rng.integers(max(lo - 0x1000, 0), hi, n, dtype=np.uint64)
    return np.concatenate([edges, spread])


def expect(starts: np.ndarray, addrs: np.ndarray) -> np.ndarray:
    return np.searchsorted(starts, addrs, side="right") - 1


@pytest.fixture(scope="module")
def merged_starts(tmp_path_factory):
    """The merged range starts of crash.pdb and basic32-min.pdb mapped at two bases."""
    pytest.importorskip("symbolic")
    from toolkit.symbols.batch import MergedTable
    from toolkit.symbols.module_index import ModuleIndex
    from toolkit.symbols.resolver import Resolver
    from toolkit.targets.trace import capture_module

    tmp = tmp_path_factory.mktemp("bucket")
    store = tmp / "store"
    store.mkdir()
    images = ["symbolic/windows/crash.exe", "mozilla-dump_syms/windows/basic32-min.dll"]
    modules = []
    for rel, base in zip(images, (0x400000, 0x7FFE12340000)):
        image = corpus_path(rel)
        shutil.copy(image.with_suffix(".pdb"), store)
        modules.append(capture_module(image, base)[0].to_module())
    resolver = Resolver.from_symbol_path(str(store), cache_dir=tmp / "cache")
    index = ModuleIndex(modules)
    table = MergedTable.build(index, [resolver.symbols_for(m) for m in index.modules])
    assert len(table.starts) > 1000
    return table.starts


@pytest.mark.parametrize("shift", [None, 0, 1, 2, 4, 6, 9])
def test_bucketed_lookup_equals_searchsorted_on_real_symbol_tables(merged_starts, shift):
    index = BucketIndex(merged_starts, shift=shift)
    addrs = probes(merged_starts, np.random.default_rng(shift or 0))
    assert np.array_equal(index.find(addrs), expect(merged_starts, addrs))


def test_coarse_buckets_send_dense_ones_to_the_fallback_and_stay_exact(merged_starts):
    index = BucketIndex(merged_starts, shift=8)
    assert index.has_dense and index.steps == bucket_index.MAX_STEPS
    addrs = probes(merged_starts, np.random.default_rng(8))
    assert np.array_equal(index.find(addrs), expect(merged_starts, addrs))


def test_far_apart_modules_become_separate_clusters_not_a_huge_table(merged_starts):
    index = BucketIndex(merged_starts)
    assert len(index.cluster_base) >= 2
    assert len(index.first) <= max(bucket_index.MIN_BUDGET,
                                   bucket_index.BUDGET_PER_START * len(merged_starts))


def test_many_clusters_are_found_by_searchsorted_and_stay_exact():
    rng = np.random.default_rng(3)
    bases = np.sort(rng.choice(1 << 20, 40, replace=False).astype(np.uint64)) << np.uint64(24)
    inner = rng.integers(0, 0x2000, (40, 30)).astype(np.uint64)
    starts = np.concatenate([[0], np.sort((bases[:, None] + inner).ravel())]).astype(np.uint64)
    index = BucketIndex(starts)
    assert len(index.cluster_base) > bucket_index.MAX_COMPARE_CLUSTERS
    addrs = probes(starts, rng)
    assert np.array_equal(index.find(addrs), expect(starts, addrs))


def test_duplicate_starts_answer_the_last_duplicate():
    starts = np.array([0, 0, 0x100, 0x100, 0x100, 0x180, 0x200, 0x200], dtype=np.uint64)
    index = BucketIndex(starts, shift=4)
    addrs = np.arange(0, 0x240, dtype=np.uint64)
    assert np.array_equal(index.find(addrs), expect(starts, addrs))


def test_a_table_of_only_zero_starts_answers_its_last_entry():
    starts = np.zeros(3, dtype=np.uint64)
    got = BucketIndex(starts).find(np.array([0, 5, U64_MAX], dtype=np.uint64))
    assert got.tolist() == [2, 2, 2]


def test_starts_must_begin_at_zero_and_be_sorted():
    with pytest.raises(ValueError, match="address 0"):
        BucketIndex(np.array([1, 2], dtype=np.uint64))
    with pytest.raises(ValueError, match="sorted"):
        BucketIndex(np.array([0, 5, 2], dtype=np.uint64))
    with pytest.raises(ValueError, match="sentinel"):
        BucketIndex(np.array([0, U64_MAX], dtype=np.uint64))
