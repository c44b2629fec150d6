"""Stack unwinding: per-architecture unwind rules, unwind-info interpreters, trust levels.

Building blocks (none needs a Target): ``trust`` (Trust, EndReason, Frame);
``amd64_unwind_info`` (.pdata index and decoded UNWIND_INFO, read by RVA);
``amd64_virtual_unwind`` + ``amd64_epilog`` (RtlVirtualUnwind's rules: prolog position, epilog
emulation, chains, machine frames); ``postfix`` (Breakpad STACK WIN / STACK CFI evaluator);
``breakpad_stack`` (address-indexed STACK records of a .sym or a PDB, Breakpad's synthesized FPO
programs); ``callsite`` (is a return address preceded by a CALL).
"""

from __future__ import annotations

__all__: list = []
