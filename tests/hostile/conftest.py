"""Counts the property-test examples a run of tests/hostile really executes (issue 12 asks for
at least 10k per CI run) and prints the total at the end of the run.

Hypothesis reports each test's run statistics to ``hypothesis.statistics.collector``; the
pytest plugin listens there for ``--hypothesis-show-statistics``. This hook listens inside it,
passes the statistics on, and adds up the test cases that ran to completion in every phase.
"""

from __future__ import annotations

from typing import Any, Dict, Iterator

import pytest

_COUNTS: Dict[str, int] = {}


def _examples(stats: Dict[str, Any]) -> int:
    total = 0
    for key, phase in stats.items():
        if key.endswith("-phase") and isinstance(phase, dict):
            total += sum(1 for case in phase.get("test-cases", ())
                         if case.get("status") in ("valid", "interesting"))
    return total


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    try:
        from hypothesis.statistics import collector
    except ImportError:
        yield
        return
    outer = collector.value

    def note(stats: Dict[str, Any]) -> None:
        _COUNTS[item.nodeid] = _COUNTS.get(item.nodeid, 0) + _examples(stats)
        if outer is not None:
            outer(stats)

    with collector.with_value(note):
        yield


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _COUNTS:
        terminalreporter.write_line(
            f"hostile property tests: {sum(_COUNTS.values()):,} examples in "
            f"{len(_COUNTS)} tests (tests/hostile/README.md has the breakdown)")
