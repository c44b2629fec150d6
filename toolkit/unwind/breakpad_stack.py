"""STACK WIN / STACK CFI records of a Breakpad .sym file, indexed by address, and their rules.

Record syntax (Breakpad's docs/symbol_files.md; all numbers hex)::

    STACK WIN type rva code_size prolog_size epilog_size parameter_size saved_register_size
              local_size max_stack_size has_program_string (program_string | allocates_base_pointer)
    STACK CFI INIT address size rules
    STACK CFI address rules

Type 4 is FrameData (a program string), type 0 is FPO (sizes only). Ranges nest, and Breakpad
answers with the innermost range (a ContainedRangeMap), FrameData before FPO; the index below
does the same with sorted starts, a running maximum of ends and ``bisect``.

When a record has no program string, Breakpad's stackwalker_x86.cc synthesizes one from the
sizes (see ``WinFrameRecord.program``); that logic is followed here and explained there.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from toolkit.unwind.postfix import PostfixError, PostfixEvaluator, ReadMemory, parse_cfi_rules

STACK_INFO_FPO = 0
STACK_INFO_FRAME_DATA = 4


@dataclass(frozen=True)
class WinFrameRecord:
    """One STACK WIN line."""

    type: int
    rva: int
    code_size: int
    prolog_size: int
    epilog_size: int
    parameter_size: int
    saved_register_size: int
    local_size: int
    max_stack_size: int
    program_string: Optional[str]
    allocates_base_pointer: bool

    @property
    def end(self) -> int:
        return self.rva + self.code_size

    def program(self, has_ebx: bool = False) -> Tuple[str, bool]:
        """(program, recover_ebp): the record's own program, or the one Breakpad synthesizes.

        Without a program string the frame is located from ESP alone. The return address sits
        above the callee's parameters, this function's locals and saved registers, a position
        the evaluator receives as ``.raSearchStart``; the caller's ESP is the slot above it.
        If the function *allocates* a base pointer (uses EBP as a general register but saves
        and restores the caller's), the caller's EBP is read from the saved-register area, 8
        bytes below its top. Otherwise EBP is untouched and carries through, and (newer
        Breakpad) so does EBX when known, since simple forwarding functions leave it alone.
        """
        if self.program_string:
            return self.program_string, True
        if self.allocates_base_pointer:
            return ("$eip .raSearchStart ^ = "
                    "$ebp $esp .cbCalleeParams + .cbSavedRegs + 8 - ^ = "
                    "$esp .raSearchStart 4 + =", True)
        program = "$eip .raSearchStart ^ = $esp .raSearchStart 4 + ="
        return (program + " $ebx $ebx =" if has_ebx else program), False

    def ra_search_start(self, esp: int, callee_parameter_size: int = 0) -> int:
        """Breakpad's first guess for the return address slot (before its 3-word scan)."""
        return (esp + callee_parameter_size + self.local_size + self.saved_register_size) \
            & 0xFFFFFFFF


@dataclass(frozen=True)
class WinEvaluation:
    registers: Dict[str, int]      # the caller's $eip, $esp, $ebp and whatever else was assigned
    program: str
    recover_ebp: bool              # False when EBP was carried through, not recovered
    ra_search_start: int


def evaluate_win(record: WinFrameRecord, registers: Mapping[str, int], read: ReadMemory,
                 callee_parameter_size: int = 0,
                 ra_search_start: Optional[int] = None) -> WinEvaluation:
    """Evaluate a STACK WIN record on a callee's ``$eip``/``$esp``/``$ebp`` (and ``$ebx``...).

    ``ra_search_start`` lets the walker pass the slot its return-address scan settled on (the
    scan needs the module list, which is the walker's); by default Breakpad's first guess is
    used, or ``$ebp + 4`` when the program aligns the stack (``@``), as Breakpad does.
    Raises PostfixError when the program fails or does not set both $eip and $esp.
    """
    regs = {(k if k.startswith("$") else f"${k}"): v for k, v in registers.items()}
    program, recover_ebp = record.program(has_ebx="$ebx" in regs)
    if ra_search_start is None:
        ra_search_start = record.ra_search_start(regs["$esp"], callee_parameter_size)
        if "@" in program and "$ebp" in regs:
            ra_search_start = (regs["$ebp"] + 4) & 0xFFFFFFFF
    variables = {name: regs[name] for name in ("$ebp", "$esp", "$ebx") if name in regs}
    variables.update({
        ".cbCalleeParams": callee_parameter_size, ".cbSavedRegs": record.saved_register_size,
        ".cbLocals": record.local_size, ".cbParams": record.parameter_size,
        ".raSearchStart": ra_search_start, ".raSearch": ra_search_start,
    })
    evaluator = PostfixEvaluator(variables, read, pointer_size=4)
    assigned = evaluator.evaluate(program)
    if "$eip" not in assigned or "$esp" not in assigned:
        raise PostfixError(f"program did not set $eip and $esp: {program!r}")
    out = dict(assigned)
    out.setdefault("$ebp", regs.get("$ebp", 0))
    return WinEvaluation(out, program, recover_ebp, ra_search_start)


@dataclass(frozen=True)
class CfiRecord:
    """A STACK CFI INIT range with its delta records (address-sorted)."""

    address: int
    size: int
    rules: Dict[str, str]
    deltas: Tuple[Tuple[int, Dict[str, str]], ...] = ()

    def rules_at(self, address: int) -> Dict[str, str]:
        """The rule set in force at ``address``: INIT overridden by every earlier delta."""
        out = dict(self.rules)
        for at, rules in self.deltas:
            if at > address:
                break
            out.update(rules)
        return out


class _RangeIndex:
    """Innermost-range lookup over possibly nested [start, end) ranges."""

    def __init__(self, items: Sequence[Tuple[int, int, object]]) -> None:
        ordered = sorted(items, key=lambda t: (t[0], -(t[1] - t[0])))
        self.starts = [s for s, _, _ in ordered]
        self.ends = [e for _, e, _ in ordered]
        self.values = [v for _, _, v in ordered]
        self.max_end: List[int] = []
        top = -1
        for end in self.ends:
            top = max(top, end)
            self.max_end.append(top)

    def __len__(self) -> int:
        return len(self.starts)

    def find(self, address: int):
        i = bisect.bisect_right(self.starts, address) - 1
        while i >= 0 and self.max_end[i] > address:
            if self.ends[i] > address:
                return self.values[i]
            i -= 1
        return None


class BreakpadStackTable:
    """The STACK records of one module, looked up by module-relative address."""

    def __init__(self, win: Iterable[WinFrameRecord], cfi: Iterable[CfiRecord]) -> None:
        win = list(win)
        self.win_count = len(win)
        self._win = {t: _RangeIndex([(r.rva, r.end, r) for r in win if r.type == t])
                     for t in (STACK_INFO_FRAME_DATA, STACK_INFO_FPO)}
        cfi = list(cfi)
        self.cfi_count = len(cfi)
        self._cfi = _RangeIndex([(r.address, r.address + r.size, r) for r in cfi])

    def win_record(self, rva: int) -> Optional[WinFrameRecord]:
        """Innermost FrameData record covering ``rva``, else innermost FPO record."""
        return (self._win[STACK_INFO_FRAME_DATA].find(rva)
                or self._win[STACK_INFO_FPO].find(rva))

    def cfi_rules(self, rva: int) -> Optional[Dict[str, str]]:
        record = self._cfi.find(rva)
        return None if record is None else record.rules_at(rva)

    @classmethod
    def from_text(cls, text: Union[str, bytes]) -> "BreakpadStackTable":
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        win: List[WinFrameRecord] = []
        inits: List[Tuple[int, int, Dict[str, str]]] = []
        deltas: Dict[int, List[Tuple[int, Dict[str, str]]]] = {}
        for line in text.splitlines():
            if line.startswith("STACK WIN "):
                win.append(parse_stack_win(line))
            elif line.startswith("STACK CFI INIT "):
                _, _, _, address, size, rest = line.split(" ", 5)
                inits.append((int(address, 16), int(size, 16), parse_cfi_rules(rest)))
                deltas[len(inits) - 1] = []
            elif line.startswith("STACK CFI ") and inits:
                _, _, address, rest = line.split(" ", 3)
                deltas[len(inits) - 1].append((int(address, 16), parse_cfi_rules(rest)))
        cfi = [CfiRecord(a, s, r, tuple(sorted(deltas[i], key=lambda d: d[0])))
               for i, (a, s, r) in enumerate(inits)]
        return cls(win, cfi)

    @classmethod
    def from_file(cls, path: Union[str, Path]) -> "BreakpadStackTable":
        return cls.from_text(Path(path).read_bytes())


def parse_stack_win(line: str) -> WinFrameRecord:
    """One ``STACK WIN`` line (the program string is the rest of the line, spaces and all)."""
    parts = line.split(" ", 12)
    if len(parts) < 13:
        raise PostfixError(f"STACK WIN line has {len(parts)} fields: {line[:80]!r}")
    nums = [int(p, 16) for p in parts[2:12]]
    has_program = nums[9] != 0
    rest = parts[12].strip()
    return WinFrameRecord(
        type=nums[0], rva=nums[1], code_size=nums[2], prolog_size=nums[3],
        epilog_size=nums[4], parameter_size=nums[5], saved_register_size=nums[6],
        local_size=nums[7], max_stack_size=nums[8],
        program_string=rest if has_program else None,
        allocates_base_pointer=(not has_program) and rest not in ("", "0"))


def stack_lines(path: Union[str, Path], kind: str) -> bytes:
    """The STACK records of a symbol file as Breakpad text: a ``.sym``'s own ``STACK`` lines, or
    those symbolic's CfiCache derives from a PDB/PE. This is what the symbol cache keeps so a
    walk from cached symbols unwinds as well as one with the symbol path."""
    if kind == "sym":
        data = Path(path).read_bytes()
        return b"\n".join(line for line in data.splitlines() if line.startswith(b"STACK "))
    return _pdb_stack_lines(path)


def _pdb_stack_lines(path: Union[str, Path]) -> bytes:
    # local: symbolic is absent on Windows. Its package re-exports these at run time only.
    from symbolic.cfi import CfiCache
    from symbolic.debuginfo import Archive

    archive = Archive.open(str(path))
    records: List[bytes] = []
    for obj in archive.iter_objects():
        data = CfiCache.from_object(obj).open_stream().read()
        start = data.find(b"STACK ")
        records.append(data[start:] if start >= 0 else b"")
    return b"\n".join(records)


def stack_win_from_pdb(path: Union[str, Path]) -> BreakpadStackTable:
    """STACK WIN (x86) or STACK CFI records that symbolic's CfiCache derives from a PDB/PE.

    symbolic 13's Python API exposes ``CfiCache.from_object`` and the cache's bytes, which (in
    CfiCache format v2) are the Breakpad STACK lines themselves; they are parsed here into the
    same table as a .sym file.
    """
    return BreakpadStackTable.from_text(_pdb_stack_lines(path))


__all__ = ["WinFrameRecord", "WinEvaluation", "CfiRecord", "BreakpadStackTable",
           "evaluate_win", "parse_stack_win", "stack_lines", "stack_win_from_pdb",
           "STACK_INFO_FPO", "STACK_INFO_FRAME_DATA"]
