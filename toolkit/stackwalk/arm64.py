"""ARM64 caller rules: the frame-record chain (x29/x30), then a scan.

AAPCS64 frame records are {saved x29, saved x30} at x29, so the caller's PC is [fp + 8], its FP
is [fp] and its SP is fp + 16 (the record sits at the top of the frame with MSVC and clang).
Pointer-authentication bits are stripped from recovered return addresses.

What is missing: the .pdata/.xdata ARM64 unwind codes (packed and unpacked unwind data, the
prolog/epilog position rules), so leaf functions without a frame record, and frames whose
function does not set up x29 (allowed under /Oy-less MSVC builds), are only found by the scan;
for the context frame the link register is not consulted.
"""

from __future__ import annotations

from typing import Optional

from toolkit.unwind.trust import Frame
from toolkit.stackwalk.common import frame_from_scan, frame_pointer_caller

ADDRESS_MASK = (1 << 48) - 1      # user-mode VAs are 48-bit; the rest may hold a PAC


def strip_pac(value: int) -> int:
    return value & ADDRESS_MASK


def caller_frame(ctx, frame: Frame) -> Optional[Frame]:
    return (frame_pointer_caller(ctx, frame, "pc", "sp", "fp", strip=strip_pac)
            or frame_from_scan(ctx, frame, frame.sp, "pc", "sp", "fp"))


__all__ = ["caller_frame", "strip_pac"]
