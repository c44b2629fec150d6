"""Function names of random code addresses: ``dumpkit``'s resolver against llvm-symbolizer.

Run: ``python bench/llvm_random_agreement.py [--corpus DIR] [--per-pair N] [--seed S]``.

For every PE with its matching PDB listed in the corpus MANIFEST ("PE images with their matching
PDB"), ``--per-pair`` random RVAs are drawn from the image's executable sections. Each address
goes to llvm-symbolizer (``--obj`` with the PDB beside the image under the name the image's
CodeView record gives, which is how llvm finds it) and to our ``Resolver.lookup``; the names are
compared after ``norm_name``: one trailing parameter list dropped (llvm prints ``foo(void)``),
whitespace and the ``class``/``struct``/``union``/``enum`` keywords removed (llvm's demangler
spells them, symbolic's does not). Both sides naming nothing counts as agreement.

One further named normalisation, ``llvm-x86-extern-c``, is reported apart from the raw figure:
llvm-symbolizer passes every name of a Win32 (x86) module that is not a C++ ``?`` name through
``demanglePE32ExternCFunc`` (llvm/lib/DebugInfo/Symbolize/Symbolize.cpp, called from
``LLVMSymbolizer::DemangleName`` when ``isWin32Module()``), which drops one leading ``_`` or
``@`` and a trailing ``@N``. It does so to procedure names too, which carry no decoration: the
PDB's ``__tmainCRTStartup`` (so recorded in the S_LPROC32, in Breakpad's dump_syms .sym files and
by WinDbg) comes out as ``_tmainCRTStartup``. We keep the PDB's name. The normalisation puts both
names through that function once: llvm's already went through it inside llvm-symbolizer, ours
goes through ``llvm_extern_c`` here (applying it twice would compare a third spelling: it is not
idempotent). It applies on x86 pairs only, as llvm's does.

Prints agreement per pair and overall, and every disagreement (``--quiet`` only the totals).
tests/corpus/test_llvm_agreement.py asserts the overall figure with a fixed seed.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import symbolize_peers as peers  # noqa: E402

TARGET = 98.0                     # percent, issue 11
_KEYWORDS = re.compile(r"\b(?:class|struct|union|enum)\s+")


@dataclass(frozen=True)
class Pair:
    image: Path
    pdb: Path


@dataclass(frozen=True)
class Sample:
    pair: Pair
    address: int
    llvm: Optional[str]
    ours: Optional[str]
    status: str
    entry: Optional[int] = None          # RVA our symbol starts at

    x86: bool = False                    # the pair's PDB is a Win32 (x86) one

    @property
    def agrees(self) -> bool:
        return norm_name(self.llvm) == norm_name(self.ours)

    @property
    def normalisation(self) -> Optional[str]:
        """The named normalisation under which the names agree ("raw" without one), or None."""
        if self.agrees:
            return "raw"
        if self.x86 and self.ours is not None and norm_name(self.llvm) == norm_name(
                llvm_extern_c(peers.norm_function(self.ours) or self.ours)):
            return "llvm-x86-extern-c"
        return None


def llvm_extern_c(name: str) -> str:
    """llvm-symbolizer's ``demanglePE32ExternCFunc`` (LLVM 14, the Debian llvm these figures
    come from): drop one leading ``_`` or ``@``; unless the name started with ``?``, drop a
    trailing ``@`` + digits; then drop a trailing ``@`` (vectorcall's ``foo@@N``)."""
    front = name[:1]
    if front in ("_", "@"):
        name = name[1:]
    if front != "?":
        at = name.rfind("@")
        if at >= 0 and all(c in "0123456789" for c in name[at + 1:]):   # all_of: true if empty
            name = name[:at]
    return name[:-1] if name.endswith("@") else name


NORMALISATIONS = {
    "raw": "equal after whitespace, class/struct/union/enum keywords and a trailing parameter "
           "list are set aside",
    "llvm-x86-extern-c": "equal once our name, too, goes through llvm's Win32 extern-C "
                         "undecoration (demanglePE32ExternCFunc, Symbolize.cpp), which llvm "
                         "applies to every non-C++ x86 name, procedure names included",
}

# What remains after the normalisations; ``explain`` checks each against the PDB's records.
EXPLAINED = {
    "dtor-spelling": "llvm's own MS demangler spells ??_G `scalar deleting dtor'; the PDB's "
                     "procedure record, undname and WinDbg say `scalar deleting destructor'",
    "folded": "identical-code folding: several functions share the code; the PDB holds a "
              "procedure record and/or a public for each of them at that one address, every "
              "one as true as the others; ours is one of the procedure records, llvm's "
              "another of those names",
    "vectorcall": "x64 (not a Win32 module for llvm, so no undecoration): llvm prints the "
                  "public's linkage name foo@@N, we the procedure record's name foo",
}


def norm_name(name: Optional[str]) -> Optional[str]:
    """The comparable part of a function name (see the module docstring)."""
    if name is None:
        return None
    text = _KEYWORDS.sub("", peers.norm_function(name) or "")
    return re.sub(r"\s+", "", text)


def pairs(corpus: Path) -> List[Pair]:
    """PE+PDB pairs from the MANIFEST table (rows whose PDB column names a ``.pdb``)."""
    manifest = (corpus / "MANIFEST.md").read_text(encoding="utf-8")
    section = manifest.split("### PE images with their matching PDB", 1)[-1].split("\n### ", 1)[0]
    found: List[Pair] = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 4 or not cells[0].startswith("`"):
            continue
        pdbs = [p for p in re.findall(r"`([^`]+)`", cells[3]) if p.lower().endswith(".pdb")]
        image = corpus / cells[0].strip("`")
        same = [p for p in pdbs if Path(p).stem.lower() == image.stem.lower()]
        pdb = corpus / (same or pdbs or [""])[0]
        if pdbs and image.is_file() and pdb.is_file():
            found.append(Pair(image, pdb))
    return found


def code_rvas(image: Path, count: int, rng: random.Random) -> Tuple[int, List[int]]:
    """Image base and ``count`` random RVAs inside the executable sections of ``image``."""
    import pefile

    pe = pefile.PE(str(image), fast_load=True)
    spans = [(s.VirtualAddress, s.Misc_VirtualSize or s.SizeOfRawData) for s in pe.sections
             if s.Characteristics & 0x20000000]                      # IMAGE_SCN_MEM_EXECUTE
    total = sum(size for _, size in spans)
    rvas = []
    for _ in range(count):
        pick = rng.randrange(total)
        for start, size in spans:
            if pick < size:
                rvas.append(start + pick)
                break
            pick -= size
    return pe.OPTIONAL_HEADER.ImageBase, rvas


def llvm_symbolizer() -> Optional[str]:
    return shutil.which("llvm-symbolizer")


def llvm_names(tool: str, pair: Pair, addresses: List[int], workdir: Path) -> List[Optional[str]]:
    """llvm-symbolizer's function per address (None for ``??``)."""
    from toolkit.symbols.resolver import identity_of_image

    pdb_name = identity_of_image(pair.image).pdb_name or pair.pdb.name
    here = workdir / pair.image.stem
    here.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(pair.image, here / pair.image.name)
    shutil.copyfile(pair.pdb, here / re.split(r"[\\/]", pdb_name)[-1])
    out = subprocess.run([tool, f"--obj={here / pair.image.name}", "--functions=linkage",
                          "--inlining=false"],
                         input="".join(f"{a:#x}\n" for a in addresses), capture_output=True,
                         text=True, check=True, timeout=300).stdout
    blocks = out.strip("\n").split("\n\n")
    names = [b.splitlines()[0] if b.strip() else "??" for b in blocks]
    if len(names) != len(addresses):
        raise RuntimeError(f"llvm-symbolizer answered {len(names)} of {len(addresses)} addresses "
                           f"for {pair.image.name}")
    return [None if n in ("??", "") else n for n in names]


def evaluate(corpus: Path, per_pair: int, seed: int, tool: str, cache_dir: Path) -> List[Sample]:
    """Every pair's random addresses through both symbolizers."""
    from toolkit.symbols.resolver import Resolver
    from toolkit.targets.trace import capture_module

    rng = random.Random(seed)
    samples: List[Sample] = []
    with tempfile.TemporaryDirectory() as work:
        for pair in pairs(corpus):
            base, rvas = code_rvas(pair.image, per_pair, rng)
            addresses = [base + rva for rva in rvas]
            theirs = llvm_names(tool, pair, addresses, Path(work))
            symdir = Path(work) / pair.image.stem
            resolver = Resolver.from_symbol_path(str(symdir), cache_dir=cache_dir)
            module = capture_module(pair.image)[0].to_module()
            for address, name in zip(addresses, theirs):
                loc = resolver.lookup(module, module.base + (address - base), lines=False)
                entry = None if loc.symbol is None else address - base - loc.displacement
                samples.append(Sample(pair, address, name, loc.symbol, loc.status.value, entry,
                                      module_is_x86(pair.image)))
    return samples


def module_is_x86(image: Path) -> bool:
    """Is ``image`` a Win32 (x86) PE, the modules llvm-symbolizer undecorates?"""
    import pefile

    return pefile.PE(str(image), fast_load=True).FILE_HEADER.Machine == 0x14C


def normalised_agreement(samples: List[Sample]) -> float:
    """Percent of samples whose names agree raw or under a named normalisation."""
    ok = sum(s.normalisation is not None for s in samples)
    return 100.0 * ok / len(samples) if samples else 0.0


def label(image: Path) -> str:
    """``x64/xcpt4.exe``: the image with its parent folder (several pairs share a file name)."""
    return f"{image.parent.name}/{image.name}"


def agreement(samples: List[Sample]) -> float:
    return 100.0 * sum(s.agrees for s in samples) / len(samples) if samples else 0.0


def explain(sample: Sample, records) -> Optional[str]:  # type: ignore[no-untyped-def]
    """The EXPLAINED key of a disagreement, checked against ``records`` (the pair's
    ``PdbRecords``), or None when it is not one of the known llvm deviations."""
    from toolkit.symbols.pdb_records import display_name

    theirs, ours = norm_name(sample.llvm), norm_name(sample.ours)
    if theirs is None or ours is None or sample.entry is None:
        return None
    at = records.names_at.get(sample.entry, ())
    procs = {norm_name(n) for k, n in at if k == 0}
    if not records.is_x86 and re.sub(r"@@\d+$", "", theirs) == ours and (1, sample.llvm) in at:
        return "vectorcall"
    fixed = theirs.replace("dtor'", "destructor'")
    if fixed == ours:
        return "dtor-spelling"
    names = {norm_name(display_name(n, k == 1, records.is_x86)) for k, n in at}
    names |= {norm_name(llvm_extern_c(n)) for n in list(names) if records.is_x86 and n}
    if ours in procs and len(names) > 1 and names & {theirs, fixed}:
        return "folded"
    return None


def explained(samples: List[Sample]) -> List[Tuple[Sample, Optional[str]]]:
    """Every disagreement with its EXPLAINED key (None: unexplained)."""
    from toolkit.symbols.pdb_records import read_pdb_records

    cache: dict = {}
    out = []
    for s in samples:
        if s.normalisation is not None:
            continue
        if s.pair.pdb not in cache:
            cache[s.pair.pdb] = read_pdb_records(s.pair.pdb)
        out.append((s, explain(s, cache[s.pair.pdb])))
    return out


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--corpus", type=Path, default=peers.CORPUS_DEFAULT)
    parser.add_argument("--per-pair", type=int, default=200, help="addresses per PE+PDB pair")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--quiet", action="store_true", help="totals only")
    args = parser.parse_args(argv)
    tool = llvm_symbolizer()
    if tool is None:
        print("llvm-symbolizer is not installed (Debian package llvm)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as cache:
        samples = evaluate(args.corpus, args.per_pair, args.seed, tool, Path(cache))
    by_pair: dict = {}
    for s in samples:
        by_pair.setdefault(label(s.pair.image), []).append(s)
    print(f"{'image':<40} {'addresses':>9} {'agree':>7}")
    for name, items in by_pair.items():
        print(f"{name:<40} {len(items):>9} {agreement(items):>6.1f}%")
    total = agreement(samples)
    print(f"{'all':<40} {len(samples):>9} {total:>6.1f}%  (raw)")
    by_norm: dict = {}
    for s in samples:
        by_norm[s.normalisation] = by_norm.get(s.normalisation, 0) + 1
    for key, text in NORMALISATIONS.items():
        print(f"  agree {key:<19} {by_norm.get(key, 0):>5}  {text}")
    normalised = normalised_agreement(samples)
    print(f"agree after the named normalisations: {normalised:.2f}%  target >= {TARGET}%: "
          f"{'PASS' if normalised >= TARGET else 'FAIL'}")
    rest = explained(samples)
    kinds: dict = {}
    for _, key in rest:
        kinds[key] = kinds.get(key, 0) + 1
    print(f"the rest, {len(rest)} of {len(samples)}:")
    for key, text in EXPLAINED.items():
        print(f"  explained {key:<15} {kinds.get(key, 0):>5}  {text}")
    print(f"  unexplained     {kinds.get(None, 0):>11}")
    if not args.quiet:
        for s, key in rest:
            print(f"  [{key or 'UNEXPLAINED'}] {label(s.pair.image)} {s.address:#x}: "
                  f"llvm {s.llvm!r}  ours {s.ours!r} ({s.status})")
    return 0 if normalised >= TARGET and not kinds.get(None) else 1


if __name__ == "__main__":
    sys.exit(main())
