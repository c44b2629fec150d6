"""``dumpkit analyze`` as a real process: text, --json, --format minidump-stackwalk (keys as the
real rust-minidump binary prints them; siggen's ``signify`` reads it and prints our signature),
compressed input, the SEH policy from the OS version, exit codes."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Set

import pytest

from conftest import SAMPLES
from tests.conftest import corpus_path
from tests.triage_peers import breakpad_symbol_tree, stackwalk_json

BIN = Path(sys.executable).parent
CRASH = SAMPLES / "dumps" / "crash_x64-normal.dmp"
CRASH_FULL = SAMPLES / "dumps" / "crash_x64-full-trim-cv.dmp"
SEH = SAMPLES / "dumps" / "seh_x86-full-trim-cv.dmp"
DEADLOCK = SAMPLES / "dumps" / "deadlock_cs_x86-full-trim-cv.dmp"


def dumpkit(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    exe = BIN / "dumpkit"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "toolkit"]
    out = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=300)
    if check:
        assert out.returncode == 0, out.stderr
    return out


def analyze_json(*args: str) -> Dict[str, Any]:
    return json.loads(dumpkit("analyze", "--json", *args).stdout)


def signify(doc: Dict[str, Any]) -> Dict[str, Any]:
    out = subprocess.run([str(BIN / "signify")], input=json.dumps({"json_dump": doc}),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def keys(doc: Dict[str, Any]) -> Dict[str, Set[str]]:
    """The key sets of every object the schema defines, by path."""
    out = {"": set(doc), "crash_info": set(doc["crash_info"]),
           "system_info": set(doc["system_info"]), "modules[]": set(doc["modules"][0]),
           "threads[]": set(doc["threads"][0]) - {"threads_index"}}
    thread = doc.get("crashing_thread") or doc["threads"][0]
    out["crashing_thread"] = set(thread)
    out["frames[0]"] = set(thread["frames"][0])
    if len(thread["frames"]) > 1:
        out["frames[1]"] = set(thread["frames"][1])
    return out


def test_text_report_names_bucket_signature_and_exception():
    out = dumpkit("analyze", str(CRASH)).stdout
    assert "FAILURE_BUCKET_ID:        NULL_CLASS_PTR_READ_c0000005_crash_x64.exe" in out
    assert "EXCEPTION_ACCESS_VIOLATION" in out and "STACK_TEXT" in out


def test_json_report_carries_schema_version_and_identity():
    doc = analyze_json(str(CRASH))
    assert doc["schema_version"] == 1 and doc["command"] == "analyze"
    assert doc["exception_code"] == "0xc0000005" and doc["access"]["null_class"]
    assert doc["bucket"].startswith("NULL_CLASS_PTR_READ_c0000005_crash_x64.exe")
    assert doc["crashing_thread"]["frames"] and doc["symbol_status"]


def test_bucket_holds_no_absolute_address():
    doc = analyze_json(str(CRASH))
    ip = int(doc["crashing_thread"]["frames"][0]["ip"], 16)
    assert f"{ip:x}" not in doc["bucket"].lower()


def test_bucket_names_the_function_without_its_parameters():
    doc = analyze_json("-y", str(SAMPLES / "bin"), str(CRASH))
    assert doc["bucket"] == "NULL_CLASS_PTR_READ_c0000005_crash_x64.exe!crash_read"
    assert doc["socorro_signature"] == "crash_read"


def test_bucket_and_signature_agree_between_two_dumps_of_one_crash():
    syms = str(SAMPLES / "bin")
    a, b = analyze_json("-y", syms, str(CRASH)), analyze_json("-y", syms, str(CRASH_FULL))
    assert (a["bucket"], a["socorro_signature"]) == (b["bucket"], b["socorro_signature"])


def test_stackwalk_format_has_the_keys_rust_minidump_prints():
    dump = corpus_path("breakpad/processor/minidump2.dmp")
    tree = breakpad_symbol_tree()
    theirs = json.loads(stackwalk_json(dump, tree))
    ours = json.loads(dumpkit("analyze", "--format", "minidump-stackwalk", "-y", str(tree),
                              str(dump)).stdout)
    assert keys(ours) == keys(theirs)
    assert ours["crashing_thread"]["frames"] == theirs["crashing_thread"]["frames"]
    assert ours["system_info"] == theirs["system_info"]


def test_stackwalk_format_without_a_crash_leaves_crashing_thread_out_like_rust_minidump():
    dump = corpus_path("wine/dumps/deadlock-i686-nocrt-ext-rich.dmp")
    theirs = json.loads(stackwalk_json(dump))
    ours = json.loads(dumpkit("analyze", "--format", "minidump-stackwalk", str(dump)).stdout)
    assert keys(ours) == keys(theirs) and "crashing_thread" not in ours
    assert ours["crash_info"] == theirs["crash_info"]


@pytest.mark.parametrize("dump", [CRASH, SEH, DEADLOCK], ids=lambda p: p.name)
def test_signify_reads_our_stackwalk_output_and_prints_our_signature(dump):
    ours = json.loads(dumpkit("analyze", "--format", "minidump-stackwalk", str(dump)).stdout)
    assert signify(ours)["signature"] == analyze_json(str(dump))["socorro_signature"]


def test_compressed_dump_gives_the_same_report(tmp_path):
    packed = tmp_path / "crash.dmp.gz"
    packed.write_bytes(gzip.compress(CRASH.read_bytes()))
    a, b = analyze_json(str(packed)), analyze_json(str(CRASH))
    assert (a["bucket"], a["socorro_signature"], a["crashing_thread"]) == \
        (b["bucket"], b["socorro_signature"], b["crashing_thread"])


@pytest.mark.parametrize("rel, policy", [("breakpad/processor/minidump2.dmp", "2003"),
                                         ("wine/dumps/crash-i686-nocrt-ext-rich.dmp", "vista"),
                                         ("symbolic/windows/mini.dmp", "win10")])
def test_seh_policy_follows_the_os_version(rel, policy):
    doc = analyze_json(str(corpus_path(rel)))
    assert doc["seh_policy"] == policy and doc["seh"]["policy"] == policy


def test_policy_option_overrides_the_os_choice():
    doc = analyze_json("--policy", "2003", str(SEH))
    assert doc["seh_policy"] == "2003" and doc["seh"]["chains"]


def test_no_seh_for_a_native_64_bit_crash():
    assert analyze_json(str(CRASH))["seh"] is None


def test_dump_without_exception_gets_the_wait_chain_analysis():
    # The symbol path is given: the wait-chain evidence needs cs_take_second's symbol, which this
    # test once found only because an earlier run had left it in the user's cache.
    doc = analyze_json(str(DEADLOCK), "-y", str(SAMPLES / "bin"))
    assert doc["exception_code"] is None and doc["wait_analysis"] is not None
    assert doc["wait_analysis"]["deadlocks"]
    assert doc["failure_class"] == "APPLICATION_HANG_DEADLOCK"


def test_deadlock_bucket_blames_a_function_of_the_cycle_not_the_main_thread():
    # samples/src/deadlock_cs.c: both workers block inside cs_take_second; main is not involved
    doc = analyze_json("-y", str(SAMPLES / "bin"), str(DEADLOCK))
    assert doc["bucket"] == "APPLICATION_HANG_DEADLOCK_none_deadlock_cs_x86.exe!cs_take_second"
    assert doc["crashing_module"] == "deadlock_cs_x86.exe"


def test_debugger_break_in_gets_the_wait_chain_analysis():
    doc = analyze_json(str(corpus_path("wine/dumps/deadlock-i686-nocrt-winedbg.dmp")))
    assert doc["exception_name"] == "EXCEPTION_BREAKPOINT" and doc["wait_analysis"] is not None


def test_crash_gets_no_wait_chain_analysis():
    assert analyze_json(str(CRASH))["wait_analysis"] is None


def test_not_a_dump_is_one_line_and_exit_2(tmp_path):
    junk = tmp_path / "junk.dmp"
    junk.write_bytes(b"not a dump at all")
    out = dumpkit("analyze", str(junk), check=False)
    assert out.returncode == 2 and out.stderr.startswith("InputError: ")
    assert len(out.stderr.splitlines()) == 1


IDENTITY = ("base_addr", "end_addr", "filename", "code_id", "debug_file", "debug_id", "version")


@pytest.mark.parametrize("rel", ["breakpad/processor/minidump2.dmp",
                                 "breakpad/processor/tiny-exe-fastfail.dmp",
                                 "electron-node-minidump/windows.dmp",
                                 "wine/dumps/crash-i686-nocrt-ext-rich.dmp"])
def test_stackwalk_modules_and_unloaded_modules_match_rust_minidump(rel):
    dump = corpus_path(rel)
    theirs = json.loads(stackwalk_json(dump))
    ours = json.loads(dumpkit("analyze", "--format", "minidump-stackwalk", str(dump)).stdout)
    assert [[m[k] for k in IDENTITY] for m in ours["modules"]] == \
        [[m[k] for k in IDENTITY] for m in theirs["modules"]]
    assert ours["unloaded_modules"] == theirs["unloaded_modules"]
    assert (ours["main_module"], ours["pid"], ours["thread_count"]) == \
        (theirs["main_module"], theirs["pid"], theirs["thread_count"])
    assert ours["crash_info"]["type"] == theirs["crash_info"]["type"]
    assert ours["crash_info"]["address"] == theirs["crash_info"]["address"]


def _symbol_status(tmp_path, *options):
    """analyze with a fresh symbol cache (XDG_CACHE_HOME), so the symbol path decides."""
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    exe = BIN / "dumpkit"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "toolkit"]
    out = subprocess.run(cmd + ["analyze", "--json", *options, str(CRASH_FULL)],
                         capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    return {s["module"]: s for s in json.loads(out.stdout)["symbol_status"]}


def test_symbol_status_says_where_the_symbols_were_found(tmp_path):
    status = _symbol_status(tmp_path, "-y", str(SAMPLES / "bin"))
    assert status["crash_x64.exe"]["status"] == "exact"
    assert Path(status["crash_x64.exe"]["source"]).resolve() == \
        (SAMPLES / "bin" / "crash_x64.pdb").resolve()
    assert status["ntdll.dll"]["status"] == "missing" and status["ntdll.dll"]["reason"]


def test_symbol_status_names_a_refused_file_of_another_id(tmp_path):
    wrong = tmp_path / "syms"
    wrong.mkdir()
    shutil.copyfile(SAMPLES / "bin" / "seh_x86.pdb", wrong / "crash_x64.pdb")
    status = _symbol_status(tmp_path, "-y", str(wrong))["crash_x64.exe"]
    assert status["status"] == "id_mismatch" and "crash_x64.pdb: carries" in status["reason"]
    allowed = _symbol_status(tmp_path, "-y", str(wrong), "--allow-mismatch")["crash_x64.exe"]
    assert allowed["status"] == "mismatched"


@pytest.mark.parametrize("rel", ["breakpad/processor/minidump2.dmp",
                                 "breakpad/processor/thread_name_list.dmp"])
def test_signify_on_the_bare_document_answers_as_for_rust_minidump(rel):
    """Fed the stackwalk object itself (not wrapped as a processed crash), signify reads other
    fields (thread 0, no OS); it still gives our document and rust-minidump's the same answer."""
    dump, tree = corpus_path(rel), breakpad_symbol_tree()
    theirs = stackwalk_json(dump, tree)
    ours = dumpkit("analyze", "--format", "minidump-stackwalk", "-y", str(tree), str(dump)).stdout

    def bare(text: str) -> str:
        out = subprocess.run([str(BIN / "signify")], input=text, capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)["signature"]
    assert bare(ours) == bare(theirs)
