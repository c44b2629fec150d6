"""Every command gives the same JSON through the pykd back end (stand-in over a minidump) as
through the minidump back end on the same dump.

Commands come from ``commands.cli.COMMANDS``, so a command registered later is checked without
touching this file; ``EXTRA`` holds the options a command needs, ``NOT_ON_TARGETS`` the ones that
do not read a process. ``UNKNOWABLE`` lists the fields pykd documents no call for (the back end
leaves them None, see toolkit/pykd_target.py); they and nothing else are blanked before comparing.
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
    from toolkit.open import open_target
    mods = open_target(dump).modules()
    return "".join(f"{m.base + min(0x1000, m.size // 2):#x}\n" for m in mods)


# command -> (CLI args, debugger args, stdin builder); {dump} is the dump path.
EXTRA: Dict[str, Tuple[List[str], List[str], Optional[Callable[[Path], str]]]] = {
    "symbolize": (["--dump", "{dump}", "--json"], ["--json"], _addresses),
}
NOT_ON_TARGETS = {"trace": "captures and shows trace files; it never reads a process"}
NEEDS_MODULE = {"deadlock": "toolkit.waitgraph.builders.minidump"}

# Keys the pykd back end cannot know from documented calls (None there), blanked on both sides.
UNKNOWABLE = {
    "suspend_count", "priority", "name_of_thread",        # no pykd call for thread details
    "csd_version", "product_type", "processor_count", "processor_level", "processor_revision",
    "cpu_vendor", "description",                           # getSystemVersion has major/minor/build
    "memory_info_count",                                   # no VirtualQuery-list call
    "debug_id_source",                                     # same id: "image"/"engine" vs "cv_record"
}


def normalise(doc: Any, top: bool = True) -> Any:
    """Blank UNKNOWABLE keys; stack starts to their page (the engine reports the readable
    region, a dump its captured range, which starts a few bytes below SP); drop input paths."""
    if isinstance(doc, dict):
        out = {}
        for key, value in doc.items():
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
