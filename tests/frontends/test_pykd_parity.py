"""Every command gives the same JSON through the pykd back end (stand-in over a minidump) as
through the minidump back end on the same dump.

Commands come from ``commands.cli.COMMANDS``, so a command registered later is checked without
touching this file; ``EXTRA`` holds the options a command needs, ``NOT_ON_TARGETS`` the ones that
do not read a process. ``UNKNOWABLE`` lists the fields pykd documents no call for (the back end
leaves them None, see toolkit/targets/pykd/target.py); they and nothing else are blanked before comparing.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest

from pykd_support import json_of, load_standin, run_cli, run_in_debugger
from tests.conftest import CORPUS, SAMPLES

CORPUS_DUMPS = ["breakpad/processor/minidump2.dmp", "symbolic/windows/mini.dmp"]


def dumps() -> List[Any]:
    found = [pytest.param(CORPUS / rel, id=rel.rsplit("/", 1)[-1]) for rel in CORPUS_DUMPS]
    found += [pytest.param(p, id=p.name) for p in sorted((SAMPLES / "dumps").glob("*.dmp"))]
    return found


def command_names() -> List[str]:
    from commands.cli import COMMANDS
    return [name for name, _, _ in COMMANDS]


def _addresses(dump: Path) -> str:
    """One address inside each module (base + 0x1000, or the middle of a small module)."""
    from toolkit.targets.open import open_target
    mods = open_target(dump).modules()
    return "".join(f"{m.base + min(0x1000, m.size // 2):#x}\n" for m in mods)


# command -> (CLI args, debugger args, stdin builder); {dump} is the dump path.
EXTRA: Dict[str, Tuple[List[str], List[str], Optional[Callable[[Path], str]]]] = {
    "symbolize": (["--dump", "{dump}", "--json"], ["--json"], _addresses),
}
NOT_ON_TARGETS = {"trace": "captures and shows trace files; it never reads a process",
                  "triage": "analyses dump files in worker processes, never the debugger's "
                            "process (analyze is its per-target part)"}
NEEDS_MODULE = {"deadlock": "toolkit.waitgraph.builders.minidump"}

# Keys the pykd back end cannot know from documented calls (None there), blanked on both sides.
UNKNOWABLE = {
    "priority",                                           # not in `~` nor any pykd call
    "processor_level", "processor_revision", "cpu_vendor",  # neither getSystemVersion nor vertarget
    "memory_info_count",                                   # no VirtualQuery-list call
    "debug_id_source",                                     # same id: "image"/"engine" vs "cv_record"
    "dump_timestamp",                                      # analyze: the dump header's, no pykd call
}


def normalise(doc: Any, top: bool = True) -> Any:
    """Blank UNKNOWABLE keys; stack starts to their page (the engine reports the readable
    region, a dump its captured range, which starts a few bytes below SP); drop input paths."""
    if isinstance(doc, dict):
        out = {}
        for key, value in doc.items():
            if top and key == "symbols":
                continue      # offline only: inside, the engine reports its symbol loading
            if key in UNKNOWABLE or (top and key in ("path", "sources")):
                out[key] = None
            elif key == "stack_start" and isinstance(value, str):
                out[key] = f"0x{int(value, 16) & ~0xFFF:0{len(value) - 2}x}"
            else:
                out[key] = normalise(value, False)
        return out
    if isinstance(doc, list):
        return [normalise(v, False) for v in doc]
    return doc


@pytest.mark.parametrize("dump", dumps())
@pytest.mark.parametrize("command", command_names())
def test_command_json_is_the_same_through_pykd(command: str, dump: Path,
                                               tmp_path: Path, monkeypatch) -> None:
    if not dump.exists():
        pytest.skip(f"{dump} absent")
    if command in NOT_ON_TARGETS:
        pytest.skip(NOT_ON_TARGETS[command])
    if command in NEEDS_MODULE:
        try:
            importlib.import_module(NEEDS_MODULE[command])
        except ImportError:
            pytest.skip(f"{NEEDS_MODULE[command]} not written yet")
    monkeypatch.setenv("_NT_SYMBOL_PATH", str(tmp_path))   # no symbol server traffic
    monkeypatch.chdir(tmp_path)
    cli_args, dbg_args, stdin_of = EXTRA.get(command, (["{dump}", "--json"], ["--json"], None))
    stdin = stdin_of(dump) if stdin_of else None
    code, offline = run_cli([command] + [a.format(dump=dump) for a in cli_args], stdin)
    pykd = load_standin()
    pykd._standin_open(str(dump))
    dcode, inside, _ = run_in_debugger(pykd, [command] + dbg_args, stdin)
    assert dcode == code
    if code != 0:
        return
    offline = offline.replace(json_string(str(dump)), "<debugger>")   # input names in messages
    assert normalise(json_of(inside)) == normalise(json_of(offline))


def json_string(text: str) -> str:
    """``text`` as it appears inside a JSON string (backslashes doubled)."""
    import json
    return json.dumps(text)[1:-1]


def test_normalise_keeps_what_pykd_knows() -> None:
    doc = {"threads": [{"tid": 1, "priority": 3, "stack_start": "0x0012f31c"}], "path": "x"}
    assert normalise(doc) == {"threads": [{"tid": 1, "priority": None,
                                           "stack_start": "0x0012f000"}], "path": None}


# Commands that name code, on dumps whose symbols the corpus holds: (command, dump, options).
SAMPLE_BIN = SAMPLES / "bin"
BREAKPAD_SYMBOLS = CORPUS / "breakpad/processor/symbols"
WITH_SYMBOLS = [
    ("exchain", SAMPLES / "dumps/seh_x86-full-trim-cv.dmp", ["-y", str(SAMPLE_BIN)]),
    ("exchain", SAMPLES / "dumps/seh_x86-normal.dmp", ["--heuristic", "-y", str(SAMPLE_BIN)]),
    ("exchain", SAMPLES / "dumps/seh_x86-full-trim-cv.dmp", ["--all-threads", "-y", str(SAMPLE_BIN)]),
    ("stack", SAMPLES / "dumps/crash_x64-normal.dmp", ["-y", str(SAMPLE_BIN)]),
    ("stack", SAMPLES / "dumps/seh_x86-full-trim-cv.dmp", ["-y", str(SAMPLE_BIN)]),
    ("stack", CORPUS / "breakpad/processor/minidump2.dmp", ["-y", str(BREAKPAD_SYMBOLS)]),
    ("scan", SAMPLES / "dumps/crash_x64-normal.dmp", ["-y", str(SAMPLE_BIN)]),
    ("scan", SAMPLES / "dumps/seh_x86-full-trim-cv.dmp", ["-y", str(SAMPLE_BIN)]),
    ("scan", CORPUS / "breakpad/processor/minidump2.dmp", ["-y", str(BREAKPAD_SYMBOLS)]),
    ("patch-check", SAMPLES / "dumps/crash_x64-normal.dmp",
     ["--function", "crash_x64!crash_level2", "-y", str(SAMPLE_BIN)]),
    ("patch-check", SAMPLES / "dumps/seh_x86-full-trim-cv.dmp",
     ["--function", "seh_x86!guard_inner", "-y", str(SAMPLE_BIN)]),
    ("patch-check", CORPUS / "breakpad/processor/minidump2.dmp",
     ["--function", "test_app!main", "-y", str(BREAKPAD_SYMBOLS)]),
    ("deadlock", SAMPLES / "dumps/deadlock_mutex_x86-full-trim-cv-handles.dmp",
     ["-y", str(SAMPLE_BIN)]),
    ("symbolize", SAMPLES / "dumps/crash_x64-normal.dmp", ["-y", str(SAMPLE_BIN)]),
    ("symbolize", CORPUS / "breakpad/processor/minidump2.dmp", ["-y", str(BREAKPAD_SYMBOLS)]),
    ("analyze", SAMPLES / "dumps/crash_x64-normal.dmp", ["-y", str(SAMPLE_BIN)]),
    ("analyze", SAMPLES / "dumps/seh_x86-full-trim-cv.dmp", ["-y", str(SAMPLE_BIN)]),
    ("analyze", CORPUS / "breakpad/processor/minidump2.dmp", ["-y", str(BREAKPAD_SYMBOLS)]),
]
# Commands that print no symbol names, so the runs above leave them out.
NAMES_NOTHING = {"info", "debugdir"}


def test_every_command_that_names_code_is_run_with_symbols() -> None:
    named = {c for c, _, _ in WITH_SYMBOLS}
    assert set(command_names()) - set(NOT_ON_TARGETS) - NAMES_NOTHING == named


def _with_symbols() -> List[Any]:
    return [pytest.param(c, d, o, id=f"{c}-{d.name}-{'-'.join(o[:-2]) or 'y'}")
            for c, d, o in WITH_SYMBOLS]


def _symbol_path(options: List[str]) -> str:
    return options[options.index("-y") + 1]


@pytest.mark.parametrize("engine_names", ["engine", "resolver"])
@pytest.mark.parametrize("command,dump,options", _with_symbols())
def test_named_output_is_the_same_through_pykd(command: str, dump: Path, options: List[str],
                                               engine_names: str, tmp_path: Path,
                                               monkeypatch) -> None:
    """With symbols: "engine" — the stand-in engine names addresses (findSymbolAndDisp through
    the same symbol path), "resolver" — it names none and the project's resolver answers."""
    if not dump.exists() or not Path(_symbol_path(options)).exists():
        pytest.skip(f"{dump} or its symbols absent")
    monkeypatch.setenv("_NT_SYMBOL_PATH", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    # Each run starts from an empty symbol cache, so both report the symbol file as the source
    # (a warm run would name the cached SymCache instead).
    monkeypatch.setenv("DUMPKIT_SYMBOL_CACHE", str(tmp_path / "cache-offline"))
    stdin = None
    if command == "symbolize":      # addresses on stdin; offline the modules come from --dump
        stdin = _addresses(dump) + _function_addresses(dump, _symbol_path(options))
        code, offline = run_cli([command, "--dump", str(dump), "--json"] + options, stdin)
    else:
        code, offline = run_cli([command, str(dump), "--json"] + options)
    assert code == 0
    monkeypatch.setenv("DUMPKIT_SYMBOL_CACHE", str(tmp_path / "cache-debugger"))
    pykd = load_standin()
    pykd._standin_open(str(dump), engine_symbols=_symbol_path(options)
                       if engine_names == "engine" else None)
    dcode, inside, _ = run_in_debugger(pykd, [command, "--json"] + options, stdin)
    assert dcode == 0
    asked = [c for c in pykd._standin_calls() if c.startswith("findSymbolAndDisp")]
    assert asked, "the engine was never asked for a name"
    offline = offline.replace(json_string(str(dump)), "<debugger>")
    assert normalise(json_of(inside)) == normalise(_engine_status(json_of(offline), inside))


def _function_addresses(dump: Path, symbol_path: str) -> str:
    """An address inside each module's first few functions (named by the symbol files)."""
    from toolkit.targets.open import open_target
    from toolkit.symbols.resolver import Resolver
    resolver = Resolver.from_symbol_path(symbol_path)
    out = []
    for module in open_target(dump).modules():
        table = resolver.symbols_for(module).table
        if table is not None:
            out += [f"{module.base + int(rva) + 1:#x}\n" for rva in list(table.func_entry)[:5]]
    return "".join(out)


def _engine_status(doc: Any, inside: str) -> Any:
    """Locations the engine named say so in ``reason`` (status stays exact); copy that note
    onto the offline document where the offline answer was exact, so the rest must match."""
    if "named by the debugger engine" not in inside:
        return doc
    if isinstance(doc, dict):
        out = {k: _engine_status(v, inside) for k, v in doc.items()}
        # The engine gives a name, not how it found it: a public-symbol match offline
        # (the PDB's records, no line data) is an engine-named "exact" inside.
        if out.get("status") in ("exact", "public") and "symbol" in out and out.get("symbol"):
            out["status"], out["reason"] = "exact", "named by the debugger engine"
        return out
    if isinstance(doc, list):
        return [_engine_status(v, inside) for v in doc]
    return doc
