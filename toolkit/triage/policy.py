"""Which SEH policy a dump's OS version calls for: 5.x -> 2003, 6.0-6.3 -> vista, 10+ -> win10.

A local mapping for analyze; toolkit.seh.policy gains ``policy_for_os`` on another branch, and
this one should then defer to it.
"""

from __future__ import annotations

from typing import Optional

from toolkit.seh.policy import DEFAULT_POLICY


def policy_for_os(major: Optional[int], minor: Optional[int] = None) -> str:
    if major is None:
        return DEFAULT_POLICY
    if major <= 5:
        return "2003"
    if major == 6:
        return "vista"
    return "win10"


__all__ = ["policy_for_os"]
