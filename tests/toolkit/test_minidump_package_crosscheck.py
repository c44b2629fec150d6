"""The streams read through the ``minidump`` package at run time (toolkit/targets/minidump/package.py)
equal what our construct layouts decode from the same bytes, on every corpus Windows dump and
every shipped sample, so the two decoders cannot drift apart unnoticed.

A package exception on a routed stream is a one-line CorruptStream, never a traceback.
"""

from __future__ import annotations

import pytest

from tests.conftest import REPO, corpus_path
from tests.corpus.test_all_dumps import WINDOWS
from toolkit.targets.minidump import package as package
from toolkit.targets.minidump import streams as ours
from toolkit.model.errors import CorruptStream
from toolkit.targets.minidump.target import MinidumpTarget
from toolkit.targets.minidump.file import MinidumpFile

SAMPLES = sorted(str(p.relative_to(REPO)) for p in (REPO / "samples" / "dumps").glob("*.dmp"))
ROUTED = ["system_info", "misc_info", "thread_list", "exception_record", "unloaded_modules"]


def dump_path(rel: str):
    return REPO / rel if rel.startswith("samples/") else corpus_path(rel)


@pytest.fixture(params=WINDOWS + SAMPLES)
def dump(request):
    with MinidumpFile(dump_path(request.param)) as f:
        yield f


def test_the_crosscheck_covers_the_samples():
    assert len(SAMPLES) >= 4


@pytest.mark.parametrize("stream", ROUTED)
def test_package_and_our_layouts_decode_the_same_values(dump, stream):
    assert getattr(package, stream)(dump) == getattr(ours, stream)(dump)


def test_package_and_our_layouts_decode_the_same_modules(dump):
    assert package.modules(dump, []) == ours.modules(dump, [])


def test_package_decodes_system_info_of_every_windows_dump(dump):
    """The routing check does not quietly send every dump to our decoder."""
    assert package.decodes_system_info(dump)


def test_a_package_exception_on_a_routed_stream_is_a_corrupt_stream(monkeypatch):
    def broken(*args):
        raise ValueError("3 is not a valid thing")
    monkeypatch.setattr(package.MinidumpThreadList, "parse", broken)
    with MinidumpTarget(corpus_path("breakpad/processor/minidump2.dmp")) as target:
        with pytest.raises(CorruptStream, match="minidump package: ValueError") as info:
            target.threads()
    assert "\n" not in str(info.value)
