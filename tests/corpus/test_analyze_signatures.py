"""Must-show of issue 14: on every Windows dump in the corpus, with one Breakpad symbol tree
given to both tools, our ``socorro_signature`` equals what siggen's ``signify`` prints for
rust-minidump's ``minidump-stackwalk --json`` output wherever the two walks are identical.

Walks are compared on the thread the signature is made from (the crashing thread, else thread
0): frame by frame, module and instruction offset. Where they differ the case is skipped with
the first differing frame as the reason, so ``pytest -ra`` lists every such dump and why.
The Wine full-memory dumps are opened by us still xz-compressed; the peer gets them unpacked.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
from full_dumps import full_dump

from tests.conftest import corpus_path
from tests.corpus.test_all_dumps import FULL_XZ, WINDOWS
from tests.triage_peers import breakpad_symbol_tree, stackwalk_json
from toolkit.symbols.resolver import Resolver
from toolkit.targets.open import open_target
from toolkit.triage.analyze import analyze_target

CASES = WINDOWS + [f"wine/dumps/{name}.dmp.xz" for name in FULL_XZ]


def signify(doc: Dict[str, Any]) -> str:
    """siggen's ``signify`` (a real subprocess) on a stackwalk document, handed over as
    Socorro's processor hands it: the processed crash's ``json_dump``."""
    exe = Path(sys.executable).parent / "signify"
    out = subprocess.run([str(exe)], input=json.dumps({"json_dump": doc}),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["signature"]


def signature_frames(doc: Dict[str, Any]) -> List[Tuple[Any, Any, str]]:
    index = (doc.get("crash_info") or {}).get("crashing_thread")
    threads = doc.get("threads") or []
    if not threads:
        return []
    frames = threads[index if index is not None else 0]["frames"]
    return [(f["module"], f["offset"], f["trust"]) for f in frames]


def first_difference(ours, theirs) -> str:
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if a[:2] != b[:2]:
            return (f"walks differ at frame {i}: ours {a[0]}@{a[1]} ({a[2]}), rust-minidump "
                    f"{b[0]}@{b[1]} ({b[2]}); {len(ours)} vs {len(theirs)} frames")
    return f"walks differ in length: ours {len(ours)} frames, rust-minidump {len(theirs)}"


@pytest.fixture(scope="module")
def symcache_dir(tmp_path_factory) -> Path:
    """A private SymCache directory: symbols cached from other runs (a PDB where the tree holds
    the .sym) must not make our side read other symbols than the peer."""
    return tmp_path_factory.mktemp("symcache")


@pytest.mark.parametrize("rel", CASES)
def test_socorro_signature_equals_signify_on_rust_minidump_output(rel, symcache_dir):
    tree = breakpad_symbol_tree()
    ours_path = corpus_path(rel)
    peer_path = full_dump(rel) if rel.endswith(".xz") else ours_path
    peer = json.loads(stackwalk_json(peer_path, tree))
    resolver = Resolver.from_symbol_path(str(tree), cache_dir=symcache_dir)
    ours = analyze_target(open_target(ours_path), resolver=resolver)
    a, b = signature_frames(ours.stackwalk), signature_frames(peer)
    theirs = signify(peer)
    if [f[:2] for f in a] != [f[:2] for f in b]:
        same = "equal anyway" if ours.socorro_signature == theirs else \
            f"ours {ours.socorro_signature!r}, signify {theirs!r}"
        pytest.skip(f"{first_difference(a, b)}; signatures {same}")
    assert ours.socorro_signature == theirs
