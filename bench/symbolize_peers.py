"""Peer expectations for symbolication, read from the corpus, and our answers beside them.

Three peers, three kinds of expected output (all in ../shared/corpus):

* llvm-symbolizer's PDB tests (``llvm/tools/llvm-symbolizer/pdb/*.test``): RUN lines echo the
  addresses, CHECK/CHECK-NEXT lines give the function and ``file:line[:column]`` per address.
  FileCheck matches substrings, so ``test.cpp:10`` accepts ``…\\test.cpp:10:0``.
* symbolic's insta snapshot ``test_objects__pdb_functions.snap`` for crash.pdb: nested function
  records (``> 0xADDR: name (0xSIZE)``, deeper indent = inlinee) each with line records
  (``0xADDR: file:line (dir)``); we check that at each line record's address our frame at the
  record's inline depth names that function and line.
* Breakpad's ``minidump2.stackwalk.out``: frames ``module!function [file : line + 0xN]`` or
  ``module!function + 0xN`` with their ``eip``; caller frames are looked up at eip-1, as the
  stackwalker does.

Used by bench/report_symbolize_agreement.py (prints percentages) and by
tests/corpus/test_symbolize_peers.py (asserts exact agreement for what we claim).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

CORPUS_DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
LLVM_DIR = "llvm/tools/llvm-symbolizer/pdb"
COLUMNS = True        # compare llvm's column numbers too (the report lists them apart)


@dataclass(frozen=True)
class Case:
    peer: str                      # "llvm-symbolizer" | "symbolic" | "breakpad"
    name: str                      # e.g. "pdb.test 0x401380"
    image: str                     # module file name as the input names it
    address: int                   # absolute address
    function: Optional[str]        # expected function (normalised, see _norm)
    file: Optional[str] = None     # expected file basename (lower case)
    line: Optional[int] = None
    column: Optional[int] = None
    depth: int = 0                 # inline depth (0 = outermost)
    displacement: Optional[int] = None
    expect_missing: bool = False   # the peer reports that no symbols could be loaded


@dataclass
class Outcome:
    case: Case
    got: Dict[str, object]
    mismatches: List[str] = field(default_factory=list)

    @property
    def agrees(self) -> bool:
        return not self.mismatches


def norm_function(name: Optional[str]) -> Optional[str]:
    """Drop one trailing parameter list (and ``const``): llvm prints ``foo(void)`` and bare C
    names, symbolic prints ``foo()`` for the same PDB record."""
    if name is None:
        return None
    text = name.strip()
    if text.endswith(" const"):
        text = text[:-6]
    if text.endswith(")"):
        depth = 0
        for i in range(len(text) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(text[i], 0)
            if depth == 0:
                return text[:i]
    return text


def _base(path: str) -> str:
    return re.split(r"[\\/]", path)[-1].lower()


# -- llvm-symbolizer -----------------------------------------------------------------------------

def llvm_cases(corpus: Path) -> List[Case]:
    cases: List[Case] = []
    for test in sorted((corpus / LLVM_DIR).glob("*.test")):
        text = test.read_text()
        obj = re.search(r'--obj="%p/Inputs/([^"]+)"', text)
        if not obj:
            continue
        image = obj.group(1)
        addrs = [int(a, 16) for a in re.findall(r"RUN: echo (0x[0-9A-Fa-f]+) >", text)]
        addrs += [int(a, 16) for a in re.findall(r"RUN: not llvm-symbolizer ((?:0x[0-9a-f]+ ?)+)",
                                                 text)[0].split()] if "not llvm-symbolizer" in text else []
        if "missing" in test.name:
            cases += [Case("llvm-symbolizer", f"{test.name} {a:#x}", image, a, None,
                           expect_missing=True) for a in addrs]
            continue
        checks = _llvm_checks(text)
        for addr, (func, loc) in zip(addrs, checks):
            file = line = col = None
            if loc:
                parts = loc.split(":")
                file, line = parts[0].lower(), int(parts[1])
                col = int(parts[2]) if len(parts) > 2 else None
            cases.append(Case("llvm-symbolizer", f"{test.name} {addr:#x}", image, addr,
                              norm_function(func), file, line, col))
    return cases


def _llvm_checks(text: str) -> List[Tuple[str, Optional[str]]]:
    out: List[Tuple[str, Optional[str]]] = []
    for kind, body in re.findall(r"^(CHECK|CHECK-NEXT): (.*)$", text, re.M):
        if kind == "CHECK":
            pattern = re.sub(r"\{\{\^?(.*?)\$?\}\}", r"\1", body.strip())
            out.append((pattern, None))
        elif out:
            out[-1] = (out[-1][0], body.strip())
    return out


# -- symbolic snapshot ---------------------------------------------------------------------------

def symbolic_cases(corpus: Path, image_base: int = 0x400000) -> List[Case]:
    snap = corpus / "symbolic/expected/test_objects__pdb_functions.snap"
    stack: List[str] = []
    cases: List[Case] = []
    func_re = re.compile(r"^( *)> 0x([0-9a-f]+): (.*) \(0x[0-9a-f]+\)$")
    line_re = re.compile(r"^( *)0x([0-9a-f]+): ([^:]+):(\d+) \(")
    for raw in snap.read_text().splitlines():
        m = func_re.match(raw)
        if m:
            depth = len(m.group(1)) // 2
            del stack[depth:]
            stack.append(m.group(3))
            continue
        m = line_re.match(raw)
        if m and stack:
            depth = len(m.group(1)) // 2 - 1
            rva = int(m.group(2), 16)
            cases.append(Case("symbolic", f"crash.pdb {rva:#x} depth {depth}", "crash.exe",
                              image_base + rva, stack[depth], m.group(3).lower(),
                              int(m.group(4)), depth=depth))
    return cases


# -- Breakpad minidump_stackwalk -----------------------------------------------------------------

def breakpad_cases(corpus: Path) -> List[Case]:
    text = (corpus / "breakpad/processor/minidump2.stackwalk.out").read_text()
    frame_re = re.compile(r"^ *(\d+)  (\S+?)!(.+?)(?: \[(\S+) : (\d+) \+ 0x[0-9a-f]+\]| \+ (0x[0-9a-f]+))?\n"
                          r" *eip = (0x[0-9a-f]+)", re.M)
    cases = []
    for m in frame_re.finditer(text):
        index, eip = int(m.group(1)), int(m.group(7), 16)
        address = eip if index == 0 else eip - 1
        disp = int(m.group(6), 16) if m.group(6) else None
        if disp is not None and index > 0:
            disp -= 1                  # the displacement printed is from eip, we look up eip-1
        cases.append(Case("breakpad", f"minidump2 frame {index}", m.group(2), address,
                          m.group(3), _base(m.group(4)) if m.group(4) else None,
                          int(m.group(5)) if m.group(5) else None, displacement=disp))
    return cases


# -- our side ------------------------------------------------------------------------------------

def evaluate(corpus: Path, cache_dir: Path) -> List[Outcome]:
    """Run every case through the resolver and compare field by field."""
    from toolkit.targets.open import open_target
    from toolkit.symbols.module_index import ModuleIndex
    from toolkit.symbols.resolver import Resolver
    from toolkit.targets.trace import capture_module

    outcomes: List[Outcome] = []
    inputs = corpus / LLVM_DIR / "Inputs"
    llvm = Resolver.from_symbol_path(str(inputs), cache_dir=cache_dir)
    for case in llvm_cases(corpus):
        module = capture_module(inputs / case.image)[0].to_module()
        outcomes.append(_compare(case, llvm.lookup(module, case.address, inlines=True)))

    sym = Resolver.from_symbol_path(str(corpus / "symbolic/windows"), cache_dir=cache_dir)
    crash = capture_module(corpus / "symbolic/windows/crash.exe")[0].to_module()
    for case in symbolic_cases(corpus, crash.base):
        outcomes.append(_compare(case, sym.lookup(crash, case.address, inlines=True)))

    bp = Resolver.from_symbol_path(str(corpus / "breakpad/processor/symbols"), cache_dir=cache_dir)
    index = ModuleIndex(open_target(corpus / "breakpad/processor/minidump2.dmp").modules())
    for case in breakpad_cases(corpus):
        module = index.find(case.address)
        assert module is not None, case
        outcomes.append(_compare(case, bp.lookup(module, case.address, inlines=True)))
    return outcomes


def _compare(case: Case, loc) -> Outcome:  # type: ignore[no-untyped-def]
    frames = [(f.function, f.file, f.line) for f in reversed(loc.inlines)]
    frames.insert(0, (loc.symbol, loc.file, loc.line))           # outermost first
    got: Dict[str, object] = {"text": loc.format(4), "status": loc.status.value}
    out = Outcome(case, got)
    if case.expect_missing:
        if loc.status.value != "missing":
            out.mismatches.append(f"expected no symbols, got {loc.status.value}")
        return out
    if case.depth >= len(frames):
        out.mismatches.append(f"no frame at inline depth {case.depth}")
        return out
    func, file, line = frames[case.depth]
    got.update(function=func, file=file, line=line, column=loc.column)
    want_func = case.function
    have_func = norm_function(func) if case.peer == "llvm-symbolizer" else func
    if want_func is not None and have_func != want_func:
        out.mismatches.append(f"function {have_func!r} != {want_func!r}")
    if case.file is not None and (file is None or _base(file) != case.file):
        out.mismatches.append(f"file {file!r} != {case.file!r}")
    if case.line is not None and line != case.line:
        out.mismatches.append(f"line {line} != {case.line}")
    if case.displacement is not None and loc.displacement != case.displacement:
        out.mismatches.append(f"displacement {loc.displacement:#x} != {case.displacement:#x}")
    if COLUMNS and case.column is not None and case.column != 0 and loc.column != case.column:
        out.mismatches.append(f"column {loc.column} != {case.column} "
                              "(symbolic's SymCache keeps no columns)")
    return out
