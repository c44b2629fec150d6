"""Stack walking (``k``), the conservative stack scan (``dps`` over every thread) and the
hot-patch safety check, on top of the unwind building blocks in toolkit.unwind."""

from __future__ import annotations

__all__: list = []
