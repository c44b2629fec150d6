"""``fixed_size(layout)``: a fixed-size construct layout's ``sizeof()``, computed once.

construct recomputes ``sizeof()`` by walking the layout on every call (~0.1 ms for a header),
and opening a dump asks for a dozen of them; the layouts are module constants, so the answer is
cached by the layout object itself.
"""

from __future__ import annotations

import functools
from typing import Any


@functools.lru_cache(maxsize=None)
def fixed_size(layout: Any) -> int:
    return int(layout.sizeof())


__all__ = ["fixed_size"]
