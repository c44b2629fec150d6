"""Loading the pykd stand-in and running dumpkit commands through both back ends."""

from __future__ import annotations

import importlib.util
import json
from types import ModuleType
from typing import Any, Dict, List, Optional, Sequence, Tuple

from pathlib import Path


REPO = Path(__file__).resolve().parents[2]
STANDIN = REPO / "tests" / "pykd_standin" / "pykd.py"


def load_standin() -> ModuleType:
    """A fresh stand-in module named ``pykd`` (not registered in sys.modules)."""
    spec = importlib.util.spec_from_file_location("pykd", STANDIN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_cli(args: Sequence[str], stdin: Optional[str] = None) -> Tuple[int, str]:
    """The offline CLI (minidump back end): exit code and stdout."""
    from commands.cli import cli
    from tests.cli_runner import split_runner
    result = split_runner().invoke(cli, list(args), input=stdin, catch_exceptions=False)
    return result.exit_code, result.stdout


def run_in_debugger(pykd: ModuleType, args: Sequence[str],
                    stdin: Optional[str] = None) -> Tuple[int, str, List[Tuple[str, bool]]]:
    """``toolkit.windbg.run`` with the stand-in: exit code, dprintln text, raw dprintln calls."""
    import io
    import sys

    from toolkit.windbg import run
    old_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin or "")
    try:
        code = run(list(args), pykd=pykd, errors=io.StringIO())
    finally:
        sys.stdin = old_stdin
    calls = pykd._standin_output()
    return code, "\n".join(text for text, _ in calls), calls


def json_of(text: str) -> Dict[str, Any]:
    return json.loads(text)
