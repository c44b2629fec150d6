"""System and thread facts pykd has no call for, read from ``vertarget`` and ``~`` output."""

from __future__ import annotations

import pytest

from pykd_support import load_standin
from tests.conftest import SAMPLES, corpus_path
from toolkit.targets.pykd.text import parse_vertarget


def test_real_kd_banner_gives_processor_count_and_product() -> None:
    text = corpus_path("transcripts/msdocs/debug-universal-drivers--kernel-mode-.md").read_text(
        encoding="utf-8")
    assert parse_vertarget(text) == {"processor_count": 4, "product_type": 1}


def test_service_pack_and_uniprocessor() -> None:
    text = ("Windows XP Version 2600 (Service Pack 2) UP Free x86 compatible\n"
            "Product: LanManNt, suite: TerminalServer\n")
    assert parse_vertarget(text) == {"csd_version": "Service Pack 2", "processor_count": 1,
                                     "product_type": 2}


def test_text_that_is_not_vertarget_gives_nothing() -> None:
    assert parse_vertarget("Unknown command\n") == {}


@pytest.mark.parametrize("dump", ["crash_x64-normal.dmp", "seh_x86-normal.dmp"])
def test_debugger_system_info_equals_the_dump_except_cpu_identity(dump: str) -> None:
    from dataclasses import replace
    from toolkit.targets.open import open_target
    from toolkit.targets.pykd.target import PykdTarget
    path = SAMPLES / "dumps" / dump
    pykd = load_standin()
    pykd._standin_open(str(path))
    offline = open_target(path).system_info()
    assert PykdTarget(pykd).system_info() == replace(offline, processor_level=None,
                                                     processor_revision=None, cpu_vendor=None)


def test_thread_status_gives_suspend_counts() -> None:
    from toolkit.targets.pykd.text import parse_suspend_counts
    text = corpus_path("transcripts/msdocs/debugging-a-deadlock.md").read_text(encoding="utf-8")
    counts = parse_suspend_counts(text)
    assert len(counts) == 9 and counts[0xA3] == 1 and counts[0xA9] == 1


def test_debugger_threads_carry_the_suspend_count_and_no_priority() -> None:
    from toolkit.targets.open import open_target
    from toolkit.targets.pykd.target import PykdTarget
    path = corpus_path("breakpad/processor/tiny-exe-with-cet-xsave.dmp")
    pykd = load_standin()
    pykd._standin_open(str(path))
    inside = PykdTarget(pykd).threads()
    assert [t.suspend_count for t in inside] == [t.suspend_count for t in
                                                 open_target(path).threads()]
    assert all(t.priority is None for t in inside)
