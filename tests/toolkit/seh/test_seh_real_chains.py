"""The SEH chains of our Wine samples, judged, against what the corpus and the samples say.

Expected chains come from files written independently of this code: corpus/wine/SUMMARY.md
(the corpus builder's walk) and samples/EXPECTED.json (written from the program's own log).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import SAMPLES, corpus_path
from tests.toolkit.seh.wine_dump import WINE_BIN, wine_full_dump
from toolkit.targets.open import open_target
from toolkit.seh import exchain
from toolkit.seh.model import Outcome

pytest.importorskip("symbolic")


def resolver_for(symbol_dir: Path, tmp_path: Path):
    from toolkit.symbols.resolver import Resolver
    return Resolver.from_symbol_path(str(symbol_dir), cache_dir=tmp_path / "cache")


def summary_chain(dump_name: str):
    text = corpus_path("wine/SUMMARY.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith(f"| {dump_name} |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    return [n.strip() for n in cells[8].split(">")]


def label(record) -> str:
    """WinDbg-ish name: ``ntdll.dll`` for a handler with no symbol, else the symbol."""
    if record.handler_name and "!" in record.handler_name:
        return record.handler_name.split("!", 1)[1].split("+")[0]
    return record.handler_module


@pytest.fixture(scope="module")
def wine_chain(tmp_path_factory):
    target = open_target(wine_full_dump())
    tmp = tmp_path_factory.mktemp("sym")
    report = exchain(target, policy="win10", resolver=resolver_for(corpus_path(WINE_BIN), tmp))
    (chain,) = report.chains
    return chain


def test_wine_full_dump_chain_is_the_one_the_corpus_summary_lists(wine_chain):
    assert wine_chain.source == "teb" and wine_chain.termination == "end"
    assert [label(r) for r in wine_chain.records] == summary_chain("crash-i686-nocrt-ext-full")


def test_wine_full_dump_chain_has_no_invalid_record(wine_chain):
    assert [r.status for r in wine_chain.records if r.status == "invalid"] == []
    assert wine_chain.failing == ()
    assert {v.rule: v.outcome for v in wine_chain.chain_rules}["SEHOP_WALK"] is Outcome.PASS


def test_wine_exe_handlers_are_in_the_exe_safeseh_table(wine_chain):
    exe = [r for r in wine_chain.records if r.handler_module == "crash-i686-nocrt.exe"]
    assert sorted(label(r) for r in exe) == ["_except_handler3", "seh_h1", "seh_h3"]
    for r in exe:
        assert r.status == "valid"
        assert r.verdict("SAFESEH_LISTED").outcome is Outcome.PASS


def test_ntdll_handlers_are_unverifiable_because_wine_ntdll_has_no_safeseh_table(wine_chain):
    for r in (wine_chain.records[0], wine_chain.records[-1]):
        assert r.handler_module == "ntdll.dll" and r.status == "unverifiable"
        assert r.unverifiable == ("NO_TABLE",)


def test_except_handler3_frame_shows_its_crt_scope_entry(wine_chain):
    (frame,) = [r for r in wine_chain.records if r.scope is not None]
    assert frame.scope.kind == "eh3" and frame.scope.try_level == 0
    (entry,) = frame.scope.entries
    assert entry.enclosing_level == -1
    assert entry.filter_name.startswith("crash-i686-nocrt!?filt$0@0@")
    assert entry.handler_name.startswith("crash-i686-nocrt!")


# ---- the project's own samples ----------------------------------------------------------------
def sample_facts(dump: str):
    path = SAMPLES / "EXPECTED.json"
    if not path.exists() or not (SAMPLES / dump).exists():
        pytest.skip("samples not built")
    return json.loads(path.read_text())["dumps"][dump]["seh_chain"]


@pytest.mark.parametrize("dump, heuristic", [("dumps/seh_x86-full-trim-cv.dmp", False),
                                             ("dumps/seh_x86-normal.dmp", True)])
def test_sample_chain_matches_expected_json(dump, heuristic, tmp_path):
    facts = sample_facts(dump)
    target = open_target(SAMPLES / dump)
    (chain,) = exchain(target, heuristic=heuristic,
                       resolver=resolver_for(SAMPLES / "bin", tmp_path)).chains
    assert chain.source == ("heuristic" if heuristic else "teb")
    assert [(hex(r.address), hex(r.handler)) for r in chain.records] == \
        [(e["record"], e["handler"]) for e in facts["records"]]
    for r, e in zip(chain.records, facts["records"]):
        assert r.status != "invalid"
        listed = r.verdict("SAFESEH_LISTED").outcome
        assert (listed is Outcome.PASS) == e["in_safeseh_table"]
        if e["module"] != "ntdll.dll":
            assert label(r) == e["symbol"]


def test_sample_without_teb_memory_says_the_head_is_unknown():
    facts = sample_facts("dumps/seh_x86-normal.dmp")
    assert facts["walkable_from_dump"] is False
    (chain,) = exchain(open_target(SAMPLES / "dumps/seh_x86-normal.dmp")).chains
    assert chain.termination == "head-unknown" and chain.records == ()
    assert "chain head" in chain.note and "--heuristic" in chain.note
