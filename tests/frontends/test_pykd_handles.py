"""Handles inside the debugger: ``!handle 0 f`` output parsed into ``toolkit.model.target.Handle``
values, checked on a real WinDbg transcript and against the dump's handle stream."""

from __future__ import annotations

import re

import pytest

from pykd_support import load_standin
from tests.conftest import SAMPLES, corpus_path
from toolkit.targets.pykd.text import parse_handles

HANDLE_DUMPS = [SAMPLES / "dumps" / "deadlock_mutex_x64-full-trim-cv-handles.dmp",
                SAMPLES / "dumps" / "deadlock_mutex_x86-full-trim-cv-handles.dmp"]
TINY = "breakpad/processor/tiny-exe-with-cet-xsave.dmp"


def _transcript_blocks() -> str:
    """The two ``!handle <h> f`` answers in DeadLock_ReadMe.md, plus a total line so the text
    reads like ``!handle 0 f`` output (the README runs the command per handle)."""
    text = corpus_path("transcripts/gavinshark/DeadLock_ReadMe.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^Handle 1b[08]\n(?:  .*\n|         .*\n|    .*\n)+", text, re.M)
    assert len(blocks) == 2
    return "".join(blocks) + "2 Handles\nType           \tCount\nMutant         \t2\n"


def test_real_windbg_mutant_owner_becomes_a_mutant_information_record() -> None:
    first, second = parse_handles(_transcript_blocks())
    assert (first.handle, first.type_name, first.granted_access) == (0x1B0, "Mutant", 0x1F0001)
    assert first.object_name == r"\Sessions\1\BaseNamedObjects\MYMUTEX1"
    assert (first.handle_count, first.pointer_count) == (2, 65537)
    owner = first.info("MiniMutantInformation2")
    assert owner.fields == {"OwnerProcessId": 0xAA8, "OwnerThreadId": 0x3FF8}
    assert owner.layout == "debugger"
    assert second.info("MiniMutantInformation2").fields["OwnerThreadId"] == 0x3268


def test_text_without_a_handle_total_is_not_a_listing() -> None:
    assert parse_handles("ERROR: !handle: extension exception 0x80004002.\n") is None


def test_free_mutex_has_no_owner() -> None:
    text = ("Handle 8\n  Type          Mutant\n  Name          <none>\n"
            "  Object Specific Information\n    Mutex is Free\n1 Handles\n")
    (handle,) = parse_handles(text)
    assert handle.object_name is None
    assert handle.info("MiniMutantInformation2").fields == {"OwnerProcessId": 0,
                                                            "OwnerThreadId": 0}


def _without_layout(handles):
    from dataclasses import replace
    return [replace(h, object_info=tuple(replace(i, layout="-", raw=b"") for i in h.object_info
                                         if i.info_type == "MiniMutantInformation2"))
            for h in handles]


@pytest.mark.parametrize("dump", [pytest.param(p, id=p.name) for p in HANDLE_DUMPS]
                         + [pytest.param(TINY, id="tiny-exe-with-cet-xsave.dmp")])
def test_debugger_handles_equal_the_dump_handle_stream(dump) -> None:
    path = corpus_path(dump) if isinstance(dump, str) else dump
    if not path.exists():
        pytest.skip(f"{path} absent")
    from toolkit.targets.open import open_target
    from toolkit.targets.pykd.target import PykdTarget
    pykd = load_standin()
    pykd._standin_open(str(path))
    inside = PykdTarget(pykd).handles()
    assert inside and _without_layout(inside) == _without_layout(open_target(path).handles())
    assert "!handle 0 f" in pykd._standin_calls()


def test_dump_without_handle_data_has_no_handles_inside_the_debugger() -> None:
    from toolkit.targets.pykd.target import PykdTarget
    pykd = load_standin()
    pykd._standin_open(str(SAMPLES / "dumps" / "deadlock_mutex_x86-normal.dmp"))
    assert PykdTarget(pykd).handles() is None


def test_kernel_sessions_do_not_ask_for_user_mode_handles() -> None:
    from toolkit.targets.pykd.target import PykdTarget
    pykd = load_standin()
    pykd._standin_open(str(HANDLE_DUMPS[0]), kernel=True)
    assert PykdTarget(pykd).handles() is None
    assert "!handle 0 f" not in pykd._standin_calls()
