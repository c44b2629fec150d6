"""Where a file with a given name and id may sit inside one store directory.

One directory may use any of the layouts found in the wild, so all are tried (cheap ``stat``s):

* symbol store: ``name.pdb/<GUID><age>/name.pdb``, ``name.exe/<TIMESTAMP><SIZE>/name.exe``;
  a compressed ``name.pd_`` or a ``file.ptr`` (a text file naming the real location) may stand
  in the id directory instead;
* two-tier store (``index2.txt`` at the root): the same under a folder named after the first two
  letters of the file name (``te/test.pdb/<id>/test.pdb``); symsrv is case-insensitive, so
  both the lower-case and the original spelling of those letters are tried;
* Breakpad: ``name.pdb/<ID>/name.sym`` (``ID`` = the debug id in Breakpad spelling);
* flat: ``name.pdb``, ``name.pd_``, ``name.sym``, ``name.pdb.sym`` directly in the directory.

This module only proposes paths (each checked to stay inside the root); the locator verifies ids.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple

from toolkit.symbols.cab import compressed_name
from toolkit.symbols.safe_names import contained

FILE_PTR = "file.ptr"
INDEX2 = "index2.txt"


@dataclass(frozen=True)
class Candidate:
    """A file that exists and may be the one wanted (its id is not checked yet)."""

    path: Path
    kind: str  # 'pdb' | 'sym' | 'pe'
    layout: str  # 'symstore' | 'two-tier' | 'breakpad' | 'flat' | 'file.ptr'
    compressed: bool = False


def sym_name(pdb_name: str) -> str:
    """Breakpad names the text file after the PDB stem: ``crash.pdb`` -> ``crash.sym``."""
    stem, dot, ext = pdb_name.rpartition(".")
    return (stem if dot and ext.lower() == "pdb" else pdb_name) + ".sym"


def file_names(name: str, kind: str) -> List[Tuple[str, bool]]:
    """``(file name, compressed?)`` pairs that hold ``kind`` for a module file ``name``."""
    if kind == "sym":
        return [(sym_name(name), False)]
    out = [(name, False)]
    packed = compressed_name(name)
    if packed:
        out.append((packed, True))
    return out


def id_spellings(file_id: str) -> List[str]:
    """The canonical spelling first, then all-upper and all-lower (case-sensitive file systems)."""
    out = [file_id]
    for alt in (file_id.upper(), file_id.lower()):
        if alt not in out:
            out.append(alt)
    return out


def id_dirs(root: Path, name: str, file_id: str) -> Iterator[Tuple[Path, str]]:
    """Existing ``<root>[/xx]/<name>/<id>`` directories, with the layout that found them."""
    tops: List[Tuple[Path, str]] = [(root, "symstore")]
    if (root / INDEX2).is_file():
        prefixes = []
        for p in (name[:2].lower(), name[:2]):
            if p not in prefixes:
                prefixes.append(p)
        for p in prefixes:
            sub = contained(root, p)
            if sub is not None:
                tops.append((sub, "two-tier"))
    for top, layout in tops:
        for spelling in id_spellings(file_id):
            d = contained(top, name, spelling)
            if d is not None and d.is_dir():
                yield d, layout
                break


def read_file_ptr(ptr: Path) -> Optional[str]:
    """The target of a ``file.ptr`` (``PATH:<location>``); ``None`` for ``MSG:`` or garbage."""
    try:
        text = ptr.read_bytes()[:4096].decode("utf-8", "replace").strip()
    except OSError:
        return None
    if text.upper().startswith("PATH:"):
        return text[5:].strip() or None
    if text.upper().startswith("MSG:") or not text:
        return None
    return text


def name_spellings(name: str) -> List[str]:
    """``name`` as given, then lower-cased: symsrv is case-insensitive, Linux file systems are not,
    and dumps spell system modules in upper case (``KERNEL32.pdb``) while stores often do not."""
    return [name] if name == name.lower() else [name, name.lower()]


def candidates(root: Path, name: str, file_id: str, kinds: Sequence[str]) -> Iterator[Candidate]:
    """Every existing file in ``root`` that may hold ``name`` with ``file_id``, best layout first."""
    if not root.is_dir():
        return
    for spelling in name_spellings(name):
        yield from _candidates(root, spelling, file_id, kinds)


def _candidates(root: Path, name: str, file_id: str, kinds: Sequence[str]) -> Iterator[Candidate]:
    for d, layout in id_dirs(root, name, file_id):
        for kind in kinds:
            for fname, packed in file_names(name, kind):
                p = contained(d, fname)
                if p is not None and p.is_file():
                    yield Candidate(p, kind, "breakpad" if kind == "sym" else layout, packed)
        ptr = contained(d, FILE_PTR)
        if ptr is not None and ptr.is_file():
            target = read_file_ptr(ptr)
            if target:
                # A file.ptr in the user's own store is trusted like the store itself.
                tp = Path(os.path.expanduser(target))
                if not tp.is_absolute():
                    tp = d / tp
                if tp.is_file():
                    kind = "sym" if tp.name.lower().endswith(".sym") else kinds[0]
                    yield Candidate(tp, kind, FILE_PTR, tp.name.endswith("_"))
    for kind in kinds:
        names = file_names(name, kind)
        if kind == "sym":
            names = names + [(name + ".sym", False)]
        for fname, packed in names:
            p = contained(root, fname)
            if p is not None and p.is_file():
                yield Candidate(p, kind, "flat", packed)


def by_name(root: Path, name: str) -> Iterator[Candidate]:
    """Files called ``name`` in ``root``, flat or in any id directory (no id to check against)."""
    if not root.is_dir():
        return
    kind = kind_of_name(name)
    flat = contained(root, name)
    if flat is not None and flat.is_file():
        yield Candidate(flat, kind, "flat")
    top = contained(root, name)
    if top is not None and top.is_dir():
        try:
            subdirs = sorted(top.iterdir())
        except OSError:
            return
        for sub in subdirs:
            p = contained(top, sub.name, name)
            if p is not None and p.is_file():
                yield Candidate(p, kind, "symstore")


def kind_of_name(name: str) -> str:
    low = name.lower()
    if low.endswith(".pdb") or low.endswith(".pd_"):
        return "pdb"
    if low.endswith(".sym"):
        return "sym"
    return "pe"


__all__ = ["Candidate", "FILE_PTR", "INDEX2", "by_name", "candidates", "file_names",
           "id_dirs", "id_spellings", "kind_of_name", "name_spellings", "read_file_ptr",
           "sym_name"]
