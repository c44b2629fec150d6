"""``python -m toolkit …`` and ``!py -m toolkit …`` (pykd-ext) run the dumpkit CLI."""

from __future__ import annotations

import os
import sys

if __package__ in (None, ""):
    # Plain pykd runs this file by path (``!py <dir>/toolkit/__main__.py``): make the project
    # importable from its checkout.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from commands.cli import main  # noqa: E402
from toolkit.windbg import in_windbg  # noqa: E402

if __name__ == "__main__":
    if in_windbg():   # inside WinDbg/kd through pykd: the debugger's target, dprintln output
        from toolkit.windbg import run
        run()
    else:
        main()
