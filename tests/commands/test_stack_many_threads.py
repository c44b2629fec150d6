"""``stack --all-threads`` on dumps of many threads (tests/many_threads.py builds them): the work
grows linearly with the thread count, and a 20k-thread dump walks every thread like the sample
thread it copies."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from commands.cli import cli
from tests.conftest import dumpkit_script
from tests.many_threads import FIRST_TID, SAMPLE, STACK_AREA, STACK_STRIDE, many_thread_dump


def _stack_json(dump: Path) -> dict:
    result = CliRunner().invoke(cli, ["stack", str(dump), "--all-threads", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _calls_during(fn) -> int:
    """Python and builtin function calls made while ``fn`` runs (a count, not a time)."""
    count = 0

    def hook(frame, event, arg):
        nonlocal count
        if event in ("call", "c_call"):
            count += 1
    sys.setprofile(hook)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return count


def test_the_calls_a_walk_makes_grow_linearly_with_the_thread_count(tmp_path, monkeypatch):
    monkeypatch.setenv("_NT_SYMBOL_PATH", "")
    counts = {}
    for n in (60, 120, 240):
        dump = many_thread_dump(n, tmp_path / f"t{n}.dmp")
        _stack_json(dump)                       # imports and lazy module state out of the count
        counts[n] = _calls_during(lambda: _stack_json(dump))
    first, second = counts[120] - counts[60], counts[240] - counts[120]
    # linear: a + b*n, so doubling 120 -> 240 adds twice what 60 -> 120 added (quadratic: 4x)
    assert 1.9 <= second / first <= 2.1, counts


def _template_walks() -> list:
    """The sample's own three threads as `stack` walks them, with each one's stack start: the
    truth every copy must match once moved to its own stack."""
    from toolkit.targets.open import open_target
    starts = [t.stack_start for t in open_target(SAMPLE).threads()]
    return list(zip(_stack_json(SAMPLE)["threads"], starts))


def _frame(frame: dict, delta: int) -> tuple:
    return (frame["ip"], int(frame["sp"], 16) - delta, frame["trust"], frame["module"],
            frame["offset"], frame["end_reason"])


def test_a_20k_thread_dump_walks_every_thread_like_the_sample_thread_it_copies(tmp_path):
    dump = many_thread_dump(20000, tmp_path / "t20000.dmp")
    templates = _template_walks()
    proc = subprocess.run([str(dumpkit_script()), "stack", str(dump), "--all-threads", "--json"],
                          capture_output=True, timeout=900,
                          env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin",
                               "DUMPKIT_SYMBOL_CACHE": str(tmp_path / "cache"),
                               "_NT_SYMBOL_PATH": ""})
    assert proc.returncode == 0, proc.stderr[-2000:]
    walked = json.loads(proc.stdout)["threads"]
    assert len(walked) == 20000
    for k, thread in enumerate(walked):
        template, _ = templates[k % 3]
        assert (thread["index"], thread["tid"]) == (k, FIRST_TID + 4 * k)
        assert len(thread["frames"]) == len(template["frames"]) >= 7, k
        assert thread["end_reason"] == template["end_reason"] == "ip_too_low"
    for k in list(range(0, 20000, 997)) + [19998, 19999]:
        template, start = templates[k % 3]
        delta = STACK_AREA + k * STACK_STRIDE + (start & (STACK_STRIDE - 1)) - start
        assert [_frame(f, delta) for f in walked[k]["frames"]] == \
            [_frame(f, 0) for f in template["frames"]], k
