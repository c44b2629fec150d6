"""Stack unwinding building blocks: per-architecture unwind rules, unwind-info interpreters, trust.
May import: parsers, toolkit.model, .targets and .symbols; never analyses or commands.

Building blocks (none needs a Target): ``trust`` (Trust, EndReason, Frame);
``amd64_unwind_info`` (.pdata index and decoded UNWIND_INFO, read by RVA);
``amd64_virtual_unwind`` + ``amd64_epilog`` (RtlVirtualUnwind's rules: prolog position, epilog
emulation, chains, machine frames); ``postfix`` (Breakpad STACK WIN / STACK CFI evaluator);
``breakpad_stack`` (address-indexed STACK records of a .sym or a PDB, Breakpad's synthesized FPO
programs); ``callsite`` (is a return address preceded by a CALL).
"""

from __future__ import annotations

from toolkit.unwind.amd64_unwind_info import ImageUnwindData, file_rva_reader
from toolkit.unwind.amd64_virtual_unwind import unwind_function, unwind_leaf
from toolkit.unwind.breakpad_stack import BreakpadStackTable, evaluate_win, stack_win_from_pdb
from toolkit.unwind.callsite import MAX_CALL_LENGTH, call_before, call_length_mask, call_site_mask
from toolkit.unwind.postfix import PostfixError, evaluate_cfi
from toolkit.unwind.trust import EndReason, Frame, Trust

# What the other packages (toolkit.stackwalk, toolkit.symbols, bench/) use.
__all__ = ["BreakpadStackTable", "EndReason", "Frame", "ImageUnwindData", "MAX_CALL_LENGTH",
           "PostfixError", "Trust", "call_before", "call_length_mask", "call_site_mask",
           "evaluate_cfi", "evaluate_win", "file_rva_reader", "stack_win_from_pdb",
           "unwind_function", "unwind_leaf"]
