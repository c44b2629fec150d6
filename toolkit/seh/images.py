"""Where a handler's image facts (NO_SEH, IL-only, the SafeSEH table) come from.

In order: the image mapped in the dump, when its headers and load config are there (full
dumps, dumps with module data); else the binary found on the symbol path by code id (the
symbols locator's ``find_code_file``); else the facts are unavailable and every image rule says
"unverifiable" with the reason. One lookup per module, cached.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

from toolkit.model.errors import DumpkitError
from toolkit.model.target import Module

# PeImage problems that mean the SafeSEH facts read from memory are incomplete.
IMAGE_SCN_MEM_EXECUTE = 0x20000000
_INCOMPLETE = ("pe-load-config", "pe-load-config-truncated", "pe-safeseh")


@dataclass(frozen=True)
class ImageFacts:
    """What the SEH rules need to know about one module's image."""

    name: str
    base: int
    available: bool
    source: Optional[str] = None            # "dump" | "symbol path" | None
    reason: Optional[str] = None            # why not available
    no_seh: bool = False
    il_only: bool = False
    has_table: bool = False                 # load config carries a SEHandlerTable
    handlers: Tuple[int, ...] = ()          # sorted RVAs
    security_cookie: Optional[int] = None   # load config SecurityCookie (VA, relocated)
    path: Optional[str] = None              # the file used, for "symbol path"
    code_ranges: Tuple[Tuple[int, int], ...] = ()   # executable sections, as VA [start, end)

    def is_code(self, address: int) -> bool:
        return any(start <= address < end for start, end in self.code_ranges)

    def safeseh_contains(self, rva: int) -> bool:
        """Binary search of the sorted handler table, as RtlIsValidHandler does."""
        i = bisect.bisect_left(self.handlers, rva)
        return i < len(self.handlers) and self.handlers[i] == rva

    def to_json(self) -> Dict[str, Any]:
        return {"name": self.name, "available": self.available, "source": self.source,
                "reason": self.reason, "no_seh": self.no_seh, "il_only": self.il_only,
                "has_table": self.has_table, "handler_count": len(self.handlers),
                "path": self.path}


def facts_from_image(image: Any, module: Module, source: str,
                     path: Optional[str] = None) -> ImageFacts:
    """ImageFacts of a ``toolkit.targets.pe.image.PeImage``; the cookie is relocated to ``module.base``."""
    lc = image.load_config
    table = bool(lc and lc.get("SEHandlerTable"))
    cookie = lc.get("SecurityCookie") if lc else None
    if cookie and image.layout == "file":
        cookie = cookie - image.image_base + module.base
    code = tuple((module.base + sec.virtual_address,
                  module.base + sec.virtual_address + max(sec.virtual_size, sec.size_of_raw_data))
                 for sec in image.sections if sec.characteristics & IMAGE_SCN_MEM_EXECUTE)
    return ImageFacts(module.name, module.base, True, source, None, image.no_seh, image.il_only,
                      table, tuple(image.safeseh_handlers), cookie or None, path, code)


class ImageCache:
    """ImageFacts per module: dump memory first, then the symbol path, else unavailable."""

    def __init__(self, target: Any, locator: Any = None) -> None:
        self.target = target
        self.locator = locator
        self._facts: Dict[Tuple[int, str], ImageFacts] = {}

    def facts(self, module: Module) -> ImageFacts:
        key = (module.base, module.name.lower())
        found = self._facts.get(key)
        if found is None:
            found = self._load(module)
            self._facts[key] = found
        return found

    def _load(self, module: Module) -> ImageFacts:
        from toolkit.targets.pe.image import PeImage, image_in_target

        reasons = []
        try:
            image = image_in_target(self.target, module)
        except DumpkitError as exc:
            image, reasons = None, [f"image in the dump is corrupt: {exc}"]
        if image is not None:
            bad = [p for p in image.problems if p.code in _INCOMPLETE]
            if not bad:
                return facts_from_image(image, module, "dump")
            reasons.append(f"load config not fully in the dump ({bad[0].message})")
        elif not reasons:
            reasons.append("the image is not in the dump")
        if self.locator is not None and module.code_id:
            located = None
            try:
                located = self.locator.find_code_file(module.name, module.code_id)
            except DumpkitError as exc:
                reasons.append(f"symbol path: {exc}")
            if located is not None:
                try:
                    image = PeImage.from_file(located.path)
                    return facts_from_image(image, module, "symbol path", str(located.path))
                except DumpkitError as exc:
                    reasons.append(f"{located.path}: {exc}")
            else:
                reasons.append(f"{module.name} {module.code_id} is not on the symbol path")
        elif self.locator is None:
            reasons.append("no symbol path to find the binary")
        else:
            reasons.append("the module has no code id to find its binary")
        return ImageFacts(module.name, module.base, False, reason="; ".join(reasons))


__all__ = ["ImageFacts", "ImageCache", "facts_from_image"]
