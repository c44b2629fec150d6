"""What ``dumpkit debugdir`` reports: the debug directory and load config of one PE file, of
every module image a dump holds, or of a stored MODLOAD_DATA debug blob.

The input kind is decided by content (``MZ``, ``MDMP``, else a blob that parses as one), not by
file name. The blob writer lives here too, so the WinDbg front end and a tracer share it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple, Union

from parsers.modload_data import build_debug_blob, looks_like_debug_blob, parse_debug_blob
from toolkit.model.errors import DumpkitError, InputError, UnreadableMemory
from toolkit.model.hexfmt import hex_addr, hex_int
from toolkit.targets.pe.image import PeImage
from toolkit.targets.pe.records import DebugEntry, decode_debug_entry
from toolkit.model.target import Problem


@dataclass(frozen=True)
class ModuleImage:
    """One module: its image when readable, else why not."""

    name: str
    base: int
    size: int
    image: Optional[PeImage]
    missing: Optional[str] = None           # "no image bytes in the dump" / "corrupt: ..."

    def to_json(self, pointer_size: int) -> Dict[str, Any]:
        return {"name": self.name, "base": hex_addr(self.base, pointer_size),
                "size": hex_int(self.size), "image_available": self.image is not None,
                "missing": self.missing, "image": self.image.to_json() if self.image else None}


@dataclass(frozen=True)
class DebugDirReport:
    path: str
    kind: str                               # "pe" | "minidump" | "blob"
    pointer_size: int
    modules: Tuple[ModuleImage, ...] = ()
    blob_entries: Tuple[DebugEntry, ...] = ()
    problems: Tuple[Problem, ...] = field(default=())

    @property
    def missing(self) -> List[ModuleImage]:
        return [m for m in self.modules if m.image is None]

    def to_json(self) -> Dict[str, Any]:
        return {"path": self.path, "kind": self.kind,
                "modules": [m.to_json(self.pointer_size) for m in self.modules],
                "modules_without_image": [m.name for m in self.missing],
                "blob_entries": [e.to_json() for e in self.blob_entries],
                "problems": [p.to_json() for p in self.problems]}


def debugdir_report(path: Union[str, "os.PathLike[str]"]) -> DebugDirReport:
    name = os.fspath(path)
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head[:2] == b"MZ":
        image = PeImage.from_file(path)
        module = ModuleImage(image.name, image.image_base, image.size_of_image, image)
        return DebugDirReport(name, "pe", image.pointer_size, (module,))
    from toolkit.targets.compressed import compression_of
    if head[:4] == b"MDMP" or compression_of(head) is not None:    # compressed: a dump, unpacked
        from toolkit.targets.open import open_target
        return report_for_target(open_target(path), name)
    with open(path, "rb") as fh:
        data = fh.read(64 << 20)
    if looks_like_debug_blob(data):
        entries = tuple(decode_debug_entry(i, e, p) for i, (e, p) in
                        enumerate(parse_debug_blob(data)))
        return DebugDirReport(name, "blob", 8, blob_entries=entries)
    raise InputError(f"{name} is neither a PE image, a minidump nor a debug-directory blob")


def report_for_target(target: Any, path: str = "") -> DebugDirReport:
    """Every module of a target, with its image where the target holds the bytes."""
    modules = []
    for m in target.modules():
        try:
            modules.append(ModuleImage(m.name, m.base, m.size, PeImage.from_target(target, m)))
        except UnreadableMemory:
            modules.append(ModuleImage(m.name, m.base, m.size, None, "no image bytes in the dump"))
        except DumpkitError as exc:
            modules.append(ModuleImage(m.name, m.base, m.size, None, f"corrupt: {exc}"))
    return DebugDirReport(path, "minidump", target.pointer_size, tuple(modules),
                          problems=tuple(getattr(target, "problems", ()) or ()))


def debug_blob(image: PeImage) -> bytes:
    """The MODLOAD_DATA (DBHHEADER_DEBUGDIRS) blob for an image: entries with readable payloads."""
    records = []
    for e in image.debug_entries:
        if e.data is None:
            continue
        records.append(({"Characteristics": e.characteristics, "TimeDateStamp": e.timestamp,
                         "MajorVersion": e.major_version, "MinorVersion": e.minor_version,
                         "Type": e.type_value}, e.data))
    return build_debug_blob(records)


def blob_file_name(module: ModuleImage) -> str:
    """``<module name>.<base hex>.dbgblob``: one file per module in the --blob directory."""
    safe = re.sub(r"[^\w.+-]", "_", module.name) or "module"
    return f"{safe}.{module.base:x}.dbgblob"


def write_blobs(report: DebugDirReport, out: str) -> List[str]:
    """A PE writes OUT itself; a dump writes OUT/ (created) with one blob per module image
    that has a debug directory."""
    images = [m for m in report.modules if m.image is not None]
    if report.kind == "pe":
        _atomic_write(out, debug_blob(images[0].image))  # type: ignore[arg-type]
        return [out]
    if report.kind != "minidump":
        raise InputError("--blob needs a PE image or a minidump")
    os.makedirs(out, exist_ok=True)
    written = []
    for m in images:
        if not any(e.data is not None for e in m.image.debug_entries):  # type: ignore[union-attr]
            continue        # no debug directory (e.g. Wine builtins): nothing to store
        path = os.path.join(out, blob_file_name(m))
        _atomic_write(path, debug_blob(m.image))  # type: ignore[arg-type]
        written.append(path)
    return written


def _atomic_write(path: str, data: bytes) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


__all__ = ["ModuleImage", "DebugDirReport", "debugdir_report", "report_for_target", "debug_blob",
           "blob_file_name", "write_blobs"]
