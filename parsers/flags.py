"""A FlagsEnum that keeps the bits it has no name for, so parse -> build returns the same bytes.

construct's ``FlagsEnum`` drops unnamed bits on parse, which breaks round trips on real files
(GuardFlags carries a 4-bit stride in its top nibble; new linkers set bits newer than any
header we know). ``FlagsEnumKeep`` stores those bits under ``_unknown`` (a hidden key, so
printing and ``FlagsEnum``'s own builder ignore it) and ORs them back in when building.
"""

from __future__ import annotations

from typing import Any, Dict, List

from construct import FlagsEnum


class FlagsEnumKeep(FlagsEnum):
    def __init__(self, subcon, *merge, **flags):
        super().__init__(subcon, *merge, **flags)
        self._known = 0
        for value in self.flags.values():
            self._known |= value

    def _decode(self, obj, context, path):
        out = super()._decode(obj, context, path)
        out["_unknown"] = obj & ~self._known
        return out

    def _encode(self, obj, context, path):
        value = super()._encode(obj, context, path)
        if isinstance(obj, dict):
            value |= int(obj.get("_unknown", 0) or 0)
        return value

    def _emitparse(self, code):
        # Compiled parsers fall back to this instance (construct links non-compilable pieces).
        raise NotImplementedError


def set_flag_names(flags: Dict[str, Any]) -> List[str]:
    """The names of the set flags of a parsed FlagsEnum container, in declaration order."""
    return [str(k) for k, v in flags.items() if not str(k).startswith("_") and v is True]


__all__ = ["FlagsEnumKeep", "set_flag_names"]
