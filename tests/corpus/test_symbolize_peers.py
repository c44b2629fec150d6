"""Our symbolication agrees with three peers' expected outputs on the corpus (see
bench/symbolize_peers.py for how each peer's file is read; bench/report_symbolize_agreement.py
prints the percentages)."""

from __future__ import annotations

import sys

import pytest

from tests.conftest import CORPUS, REPO

pytest.importorskip("symbolic")
sys.path.insert(0, str(REPO / "bench"))
import symbolize_peers as peers  # noqa: E402


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    if not (CORPUS / peers.LLVM_DIR).is_dir():
        pytest.skip("../shared/corpus is not beside the repository")
    return peers.evaluate(CORPUS, tmp_path_factory.mktemp("symcache"))


def of(outcomes, peer):
    found = [o for o in outcomes if o.case.peer == peer]
    assert found, f"no {peer} cases read from the corpus"
    return found


def test_llvm_symbolizer_pdb_tests_agree_on_function_file_and_line(outcomes):
    bad = [(o.case.name, o.mismatches) for o in of(outcomes, "llvm-symbolizer")
           if [m for m in o.mismatches if not m.startswith("column")]]
    assert bad == []


def test_llvm_missing_pdb_test_is_reported_as_missing_symbols(outcomes):
    missing = [o for o in of(outcomes, "llvm-symbolizer") if o.case.expect_missing]
    assert len(missing) == 2 and all(o.agrees for o in missing)


def test_only_columns_disagree_with_llvm_because_symcache_has_none(outcomes):
    columns = [o.case.name for o in of(outcomes, "llvm-symbolizer") if not o.agrees]
    assert all(name.startswith("pdb-columns.test") for name in columns)


def test_symbolic_crash_pdb_snapshot_agrees_at_every_inline_depth(outcomes):
    cases = of(outcomes, "symbolic")
    assert any(o.case.depth >= 2 for o in cases)
    assert [(o.case.name, o.mismatches) for o in cases if not o.agrees] == []


def test_breakpad_minidump2_frames_agree_including_displacement(outcomes):
    cases = of(outcomes, "breakpad")
    assert len(cases) == 4
    assert [(o.case.name, o.mismatches) for o in cases if not o.agrees] == []
