"""Shared fixtures: where the real-data corpus lives, and skipping cleanly when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DUMPKIT_SHARED", REPO.parent / "shared"))
CORPUS = SHARED / "corpus"
SAMPLES = REPO / "samples"


def corpus_path(relative: str) -> Path:
    """A corpus file, or a skip naming what is missing (CI has ../shared; a bare clone may not)."""
    path = CORPUS / relative
    if not path.exists():
        pytest.skip(f"corpus file {relative} absent (../shared/corpus not beside the repo)")
    return path


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is not beside the repository")
    return CORPUS
