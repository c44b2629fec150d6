"""``toolkit.triage.signature.crash_data`` is what siggen's own ``convert_to_crash_data`` makes
of our minidump-stackwalk document: equal on every corpus Windows dump, and on documents with
the looked-up parts missing or null (glom's defaults)."""

from __future__ import annotations

import pytest
from siggen.utils import convert_to_crash_data

from tests.conftest import CORPUS
from toolkit.model.errors import DumpkitError
from toolkit.triage.analyze import analyze_file
from toolkit.triage.signature import crash_data


def test_crash_data_equals_siggens_conversion_on_every_corpus_dump():
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is not beside the repository")
    compared = 0
    for path in sorted(CORPUS.rglob("*.dmp")):
        try:
            doc = analyze_file(str(path), walk_all_threads=False).stackwalk
        except DumpkitError:
            continue
        assert crash_data(doc) == convert_to_crash_data({"json_dump": doc}), path
        compared += 1
    assert compared > 40


@pytest.mark.parametrize("doc", [{}, {"crash_info": None, "system_info": None},
                                 {"crash_info": {"type": "EXCEPTION_BREAKPOINT"}, "threads": []},
                                 {"crash_info": {"crashing_thread": 3}, "system_info": {}}])
def test_crash_data_takes_siggens_defaults_where_parts_are_missing(doc):
    assert crash_data(doc) == convert_to_crash_data({"json_dump": doc})
