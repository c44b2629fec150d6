"""dumpkit's analysis engine: targets, memory, symbols, unwinding, SEH rules, wait graphs.

Nothing in this package prints; every analysis returns dataclasses with ``to_json``.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
