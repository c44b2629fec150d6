"""dumpkit's analysis engine, one package per layer: model, targets, unwind and symbols, analyses.
May import: each layer only the ones below it (model < targets < unwind, symbols < analyses).

The analyses are stackwalk, seh, waitgraph and triage; nothing in them prints, every one returns
dataclasses with ``to_json``. ``__main__`` and ``windbg`` are the WinDbg front end's entry points
and, like commands/, may import anything.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
