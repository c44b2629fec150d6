"""``dumpkit triage --html``: one self-contained page, loaded in a real headless Chromium
(Debian's ``chromium``, driven by playwright): no console errors, nothing fetched but the page
itself, and it shows the run's buckets, their stacks and the refused dumps."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SAMPLES

DUMPS = SAMPLES / "dumps"
HOSTILE = "<img src=x onerror=alert(1)>.dmp"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    work = tmp_path_factory.mktemp("html")
    # A hostile name: unescaped, it would fetch "x" and raise an alert dialog.
    (work / HOSTILE).write_bytes(b"MDMP<script>alert(1)</script>" + b"\0" * 40)
    exe = Path(sys.executable).parent / "dumpkit"
    # The samples' symbols are named: crash_read's name must not depend on a warm user cache.
    out = subprocess.run([str(exe), "triage", "--json", "--html", "report.html", str(DUMPS),
                          str(work / HOSTILE), "-y", str(SAMPLES / "bin")],
                         capture_output=True, text=True, timeout=600,
                         cwd=str(work))
    assert out.returncode == 0, out.stderr
    return work / "report.html", json.loads(out.stdout)


def chromium() -> str:
    path = os.environ.get("DUMPKIT_CHROMIUM") or shutil.which("chromium") or \
        shutil.which("chromium-browser")
    if not path:
        pytest.skip("no chromium on PATH (Debian package `chromium`; .ci/run installs it)")
    return path


def test_the_page_references_nothing_outside_itself(run):
    page, _ = run
    text = page.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text)
    assert "<link" not in text and "@import" not in text and "<script" not in text


def test_the_page_loads_in_headless_chromium_and_shows_the_buckets(run, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api",
                                     reason="python playwright is not installed")
    exe = chromium()
    page_file, doc = run
    messages, errors, requests, dialogs = [], [], [], []
    with playwright.sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(str(tmp_path / "profile"),
                                                    executable_path=exe, headless=True,
                                                    args=CHROMIUM_ARGS)
        try:
            page = ctx.new_page()
            page.on("console", lambda m: messages.append((m.type, m.text)))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(page_file.as_uri())
            page.wait_for_load_state("load")
            shown = page.locator("section.bucket h3 code").all_inner_texts()
            bars = page.locator("#chart rect").count()
            stacks = page.locator("section.bucket pre").all_inner_texts()
            refused = page.locator("#refused td code").all_inner_texts()
        finally:
            ctx.close()
    assert errors == [] and [m for m in messages if m[0] == "error"] == []
    assert requests == [page_file.as_uri()]
    assert shown == [b["bucket"] for b in doc["buckets"]]
    assert bars == len(doc["buckets"])
    crash = doc["buckets"][[b["bucket"] for b in doc["buckets"]].index(
        "NULL_CLASS_PTR_READ_c0000005_crash_x64.exe!crash_read")]
    assert "\n".join(crash["stack"]) in stacks
    assert refused == [r["path"] for r in doc["refused_dumps"]]
    assert refused == [str(page_file.parent / HOSTILE)] and dialogs == []
