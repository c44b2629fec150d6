"""Stack unwinding: per-architecture unwind rules, unwind-info interpreters, trust levels.

Building blocks (no Target needed): ``trust`` (Trust, Frame), ``amd64_unwind_info`` (.pdata index
and UNWIND_INFO interpreter), ``postfix`` (Breakpad STACK WIN / STACK CFI evaluator),
``breakpad_stack`` (address-indexed STACK records of a .sym), ``callsite`` (CALL-before check).
"""

from __future__ import annotations

__all__: list = []
