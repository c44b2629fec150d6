"""A click CliRunner whose result keeps stdout and stderr apart on every supported click.

click 8.2 (Python 3.10+) always separates them; click 8.1, the newest on Python 3.9, mixes
stderr into stdout unless told not to, so `result.stdout` would carry the symbol-status lines.
"""

from __future__ import annotations

from click.testing import CliRunner


def split_runner() -> CliRunner:
    try:
        return CliRunner(mix_stderr=False)      # type: ignore[call-arg]  # click 8.1
    except TypeError:
        return CliRunner()                      # click >= 8.2 has no mix_stderr: always apart
