"""The public surface of toolkit.seh, and the per-module image cache."""

from __future__ import annotations

import toolkit.seh
from tests.conftest import corpus_path
from tests.toolkit.seh.sehdump import pefile_handlers
from tests.toolkit.seh.wine_dump import WINE_BIN, wine_full_dump
from toolkit.targets.open import open_target
from toolkit.seh.images import ImageCache


def test_public_api_is_pinned():
    assert sorted(toolkit.seh.__all__) == sorted([
        "exchain", "select_threads", "thread_chain", "Judge", "judge_handler", "ChainVerdict",
        "ExchainReport", "Outcome", "RecordVerdict", "RuleVerdict", "ScopeEntry", "ScopeInfo",
        "DEFAULT_POLICY", "POLICIES", "Policy", "get_policy", "RULES"])
    assert all(hasattr(toolkit.seh, name) for name in toolkit.seh.__all__)


def test_image_facts_are_read_once_per_module_and_come_from_the_dump():
    target = open_target(wine_full_dump())
    exe = next(m for m in target.modules() if m.name.endswith(".exe"))
    cache = ImageCache(target)
    first = cache.facts(exe)
    assert cache.facts(exe) is first
    assert first.source == "dump" and first.has_table
    assert list(first.handlers) == sorted(pefile_handlers(corpus_path(f"{WINE_BIN}/{exe.name}")))
    assert first.is_code(exe.base + 0x1000) and not first.is_code(exe.base)
