"""`dumpkit --help` lists every command without importing any command module (start-up, issue 13)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from commands.cli import COMMANDS, SHORT_HELP


@pytest.mark.parametrize("name,module,attr", COMMANDS)
def test_short_help_matches_the_commands_own_docstring(name, module, attr):
    command = getattr(importlib.import_module(module), attr)
    assert SHORT_HELP[name] == command.get_short_help_str(limit=10_000)


def test_every_command_has_a_short_help_entry():
    assert sorted(SHORT_HELP) == sorted(name for name, _, _ in COMMANDS)


def test_help_imports_no_command_module_nor_numpy_or_construct():
    code = ("import sys\nfrom commands.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('numpy', 'construct', 'pefile', 'http', 'email') or "
            "(m.startswith('commands.') and m not in ('commands.cli',)))\n"
            "print('HEAVY', heavy)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "HEAVY []" in out
    for name, _, _ in COMMANDS:
        assert name in out
