"""``dumpkit symbolize`` and ``dumpkit trace``: text, JSON, JSON lines, and bad input per line."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from commands.cli import cli
from tests.cli_runner import split_runner
from tests.conftest import corpus_path, dumpkit_script

pytest.importorskip("symbolic")


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("DUMPKIT_SYMBOL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("_NT_SYMBOL_PATH", raising=False)
    return tmp_path


def store(tmp_path, *rels):
    d = tmp_path / "store"
    d.mkdir(exist_ok=True)
    for rel in rels:
        shutil.copy(corpus_path(rel), d)
    return str(d)


def run(args, stdin=""):
    runner = split_runner()
    return runner.invoke(cli, args, input=stdin)


def test_module_offset_line_resolves_through_the_binary_found_by_name(env):
    path = store(env, "symbolic/windows/crash.exe", "symbolic/windows/crash.pdb")
    res = run(["symbolize", "--symbol-path", path], "crash.exe+0x2a3d\n")
    assert res.exit_code == 0, res.stderr
    assert res.stdout == ("crash!main(int, char**)+0x12d "
                          "[c:\\projects\\breakpad-tools\\windows\\crash\\main.cpp @ 35]\n")


def test_module_symbol_lines_resolve_by_name_with_or_without_parameters(env):
    path = store(env, "symbolic/windows/crash.exe", "symbolic/windows/crash.pdb")
    res = run(["symbolize", "-y", path, "--no-lines"],
              "crash!main+0x12d\ncrash!main(int, char**)+0x12d\ncrash!main\n")
    assert res.stdout.splitlines() == ["crash!main(int, char**)+0x12d"] * 2 + \
        ["crash!main(int, char**)"]


def test_module_symbol_line_naming_no_function_is_a_per_line_error(env):
    path = store(env, "symbolic/windows/crash.exe", "symbolic/windows/crash.pdb")
    res = run(["symbolize", "-y", path], "crash!no_such_function+0x1\ncrash.exe+0x2a3d\n")
    first, second = res.stdout.splitlines()
    assert first == "crash!no_such_function+0x1: error: crash has no function named no_such_function"
    assert second.startswith("crash!main(int, char**)+0x12d")


def test_offset_past_size_of_image_of_the_binary_found_by_name_is_outside_the_module(env):
    path = store(env, "symbolic/windows/crash.exe", "symbolic/windows/crash.pdb")
    res = run(["symbolize", "-y", path, "--no-lines"], "crash.exe+0x8fff\ncrash.exe+0x9000\n")
    inside, outside = res.stdout.splitlines()               # SizeOfImage of crash.exe: 0x9000
    assert inside.startswith("crash!")
    assert outside == ("crash.exe+0x9000: error: offset 0x9000 is past the end of crash.exe "
                       "(size 0x9000)")


def test_module_offset_without_a_binary_on_the_path_accepts_any_32_bit_offset(env):
    path = store(env, "symbolic/windows/crash.pdb")
    res = run(["symbolize", "-y", path], "crash.exe+0x12345678\n")
    assert "past the end" not in res.stdout and "error" not in res.stdout


def test_inlines_print_innermost_first_then_the_function(env):
    path = store(env, "symbolic/windows/crash.exe", "symbolic/windows/crash.pdb")
    out = run(["symbolize", "-y", path, "--inlines", "--no-lines"], "crash.exe+0x2a3d\n").stdout
    assert out.splitlines() == ["crash!`anonymous namespace'::crash() (inline)",
                                "crash!`anonymous namespace'::start() (inline)",
                                "crash!main(int, char**)+0x12d"]


def test_dump_supplies_modules_for_absolute_addresses(env):
    path = store(env, "symbolic/windows/crash.pdb")
    res = run(["symbolize", "--dump", str(corpus_path("symbolic/windows/mini.dmp")), "-y", path,
               "--json"], "0x2a2a3d\n0x77170010\n")
    doc = json.loads(res.stdout)
    first, second = doc["results"]
    assert (first["symbol"], first["status"], first["address"]) == \
        ("main(int, char**)", "exact", "0x002a2a3d")
    assert (second["module"], second["status"]) == ("ntdll.dll", "missing")
    assert "wntdll.pdb" in second["reason"]
    assert doc["schema_version"] == 1 and doc["command"] == "symbolize"


def test_bad_lines_become_per_line_errors_in_jsonl(env):
    path = store(env, "symbolic/windows/crash.exe", "symbolic/windows/crash.pdb")
    res = run(["symbolize", "-y", path, "--jsonl"],
              "crash.exe+0x2a3d\nnot an address\ncrash.exe+0x100000000\nnope.dll+0x10\n0x1234\n")
    assert res.exit_code == 0
    docs = [json.loads(line) for line in res.stdout.splitlines()]
    assert [d["status"] for d in docs] == ["exact", "error", "error", "missing", "missing"]
    assert docs[1]["error"].startswith("not an address")
    assert "past the end of crash.exe" in docs[2]["error"]
    assert docs[3]["module"] == "nope.dll" and docs[3]["reason"]
    assert docs[4]["module"] is None and "no module table" in docs[4]["reason"]
    assert [d["input_line"] for d in docs] == [1, 2, 3, 4, 5]


def test_wrong_pdb_is_refused_unless_allowed_and_then_marked(env):
    d = env / "store"
    d.mkdir()
    shutil.copy(corpus_path("symbolic/windows/crash.exe"), d)
    shutil.copy(corpus_path("llvm/tools/llvm-symbolizer/pdb/Inputs/test.pdb"), d / "crash.pdb")
    refused = run(["symbolize", "-y", str(d)], "crash.exe+0x1380\n")
    assert refused.stdout.strip() == "crash+0x1380  (no symbols)"
    assert "missing symbols for crash.exe" in refused.stderr
    allowed = run(["symbolize", "-y", str(d), "--allow-mismatch"], "crash.exe+0x1380\n")
    assert allowed.stdout.startswith("crash!foo() [") and "(MISMATCHED symbols)" in allowed.stdout


def test_server_down_gives_missing_symbols_not_a_traceback(env):
    res = run(["symbolize", "--dump", str(corpus_path("symbolic/windows/mini.dmp")),
               "-y", f"srv*{env / 'dl'}*http://127.0.0.1:9/symbols", "--jsonl"], "0x2a2a3d\n")
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["status"] == "missing"


def test_modules_json_that_is_not_json_is_a_one_line_error(env):
    bad = env / "m.json"
    bad.write_text("{not json")
    res = run(["symbolize", "--modules", str(bad)], "0x1\n")
    assert res.exit_code == 2
    assert res.stderr.startswith("InputError: ") and len(res.stderr.strip().splitlines()) == 1


def test_modules_json_describes_modules_by_id(env):
    path = store(env, "symbolic/windows/crash.pdb")
    mods = env / "m.json"
    mods.write_text(json.dumps([{"name": "crash.exe", "base": "0x400000", "size": "0x9000",
                                 "debug_id": "3249d99d-0c40-4931-8610-f4e4fb0b6936-1",
                                 "pdb_name": "crash.pdb"}]))
    res = run(["symbolize", "--modules", str(mods), "-y", path], "402a3d\n")
    assert res.stdout.startswith("crash!main(int, char**)+0x12d")


def test_trace_capture_then_symbolize_with_only_symbol_files(env):
    out = env / "t.trace"
    events = env / "ev.txt"
    events.write_text("tid=0x10 crash.exe+0x2a3d crash.exe+0x1000\ntid=0x11 basic32.dll+0x6be4\n")
    cap = run(["trace", "capture", "--out", str(out), str(corpus_path("symbolic/windows/crash.exe")),
               str(corpus_path("mozilla-dump_syms/windows/basic32.dll")),
               "--base", "basic32.dll=0x10000000", "--events", str(events)])
    assert cap.exit_code == 0, cap.stderr
    path = store(env, "symbolic/windows/crash.pdb", "mozilla-dump_syms/windows/basic32.sym")
    doc = json.loads(run(["symbolize", str(out), "-y", path, "--json"]).stdout)
    frames = [[f["symbol"] for f in e["frames"]] for e in doc["events"]]
    assert frames == [["main(int, char**)", "google_breakpad::CrashGenerationClient::RequestDump("
                       "_EXCEPTION_POINTERS*, MDRawAssertionInfo*)"], ["test1(int*)"]]
    assert [e["thread_id"] for e in doc["events"]] == [0x10, 0x11]


def test_a_traces_json_jsonl_and_pretty_json_carry_the_same_event_documents(env):
    """The compact views are assembled from each distinct frame's JSON text; they must say
    exactly what the documents say, for addresses repeated within and across events."""
    out = env / "t.trace"
    events = env / "ev.txt"
    events.write_text("tid=0x10 crash.exe+0x2a3d crash.exe+0x1000 crash.exe+0x2a3d\n"
                      "tid=0x12 crash.exe+0x1000 crash.exe+0x2a3d\n")
    cap = run(["trace", "capture", "--out", str(out), str(corpus_path("symbolic/windows/crash.exe")),
               "--events", str(events)])
    assert cap.exit_code == 0, cap.stderr
    path = store(env, "symbolic/windows/crash.pdb")
    compact = run(["symbolize", str(out), "-y", path, "--json"]).stdout
    pretty = run(["symbolize", str(out), "-y", path, "--json", "--pretty"]).stdout
    lines = run(["symbolize", str(out), "-y", path, "--jsonl"]).stdout.splitlines()
    assert json.loads(compact) == json.loads(pretty)
    docs = json.loads(compact)["events"]
    assert [json.loads(line) for line in lines] == docs
    assert lines == [json.dumps(doc) for doc in docs]           # json.dumps' own spelling
    assert [len(doc["frames"]) for doc in docs] == [3, 2]
    assert docs[0]["frames"][0] == docs[0]["frames"][2] == docs[1]["frames"][1]
    assert docs[0]["frames"][0]["symbol"] == "main(int, char**)"


def test_trace_capture_rejects_a_bad_base_option(env):
    res = run(["trace", "capture", "--out", str(env / "t.trace"),
               str(corpus_path("symbolic/windows/crash.exe")), "--base", "crash.exe"])
    assert res.exit_code == 2 and "NAME=0xADDR" in res.stderr


def test_installed_dumpkit_reports_bad_lines_without_a_traceback(env):
    exe = dumpkit_script()
    path = store(env, "symbolic/windows/crash.exe", "symbolic/windows/crash.pdb")
    proc = subprocess.run([exe, "symbolize", "-y", path], input="crash.exe+0x2a3d\ngarbage\n",
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    assert proc.stdout.splitlines()[1] == \
        "garbage: error: not an address, module+offset or module!symbol+offset"
    assert "Traceback" not in proc.stderr
    corrupt = env / "bad.trace"
    corrupt.write_bytes(b"DKTRACE\x00" + bytes(8))
    proc = subprocess.run([exe, "symbolize", str(corrupt)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
