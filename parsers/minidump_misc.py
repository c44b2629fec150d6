"""MINIDUMP_MISC_INFO versions 1..5 (minidumpapiset.h), told apart by their leading SizeOfInfo.

Each version appends fields to the previous one; Flags1 says which of the present fields hold
data. ``MISC_INFO_BY_SIZE`` maps each version's size to its layout so a reader picks the largest
layout the stream's SizeOfInfo covers and keeps working when a newer writer appends more.
"""

from __future__ import annotations

from typing import Optional

from construct import Array, FlagsEnum, Int16ul, Int32sl, Int32ul, Int64ul, PaddedString, Struct

MISC_INFO_FLAGS1 = FlagsEnum(
    Int32ul,
    MINIDUMP_MISC1_PROCESS_ID=0x1, MINIDUMP_MISC1_PROCESS_TIMES=0x2,
    MINIDUMP_MISC1_PROCESSOR_POWER_INFO=0x4, MINIDUMP_MISC3_PROCESS_INTEGRITY=0x10,
    MINIDUMP_MISC3_PROCESS_EXECUTE_FLAGS=0x20, MINIDUMP_MISC3_TIMEZONE=0x40,
    MINIDUMP_MISC3_PROTECTED_PROCESS=0x80, MINIDUMP_MISC4_BUILDSTRING=0x100,
    MINIDUMP_MISC5_PROCESS_COOKIE=0x200,
)

_V1 = (
    "SizeOfInfo" / Int32ul,                   # +0x00
    "Flags1" / MISC_INFO_FLAGS1,              # +0x04
    "ProcessId" / Int32ul,                    # +0x08
    "ProcessCreateTime" / Int32ul,            # +0x0C time_t
    "ProcessUserTime" / Int32ul,              # +0x10 seconds
    "ProcessKernelTime" / Int32ul,            # +0x14 seconds
)
_V2 = _V1 + (
    "ProcessorMaxMhz" / Int32ul,              # +0x18
    "ProcessorCurrentMhz" / Int32ul,          # +0x1C
    "ProcessorMhzLimit" / Int32ul,            # +0x20
    "ProcessorMaxIdleState" / Int32ul,        # +0x24
    "ProcessorCurrentIdleState" / Int32ul,    # +0x28
)

SYSTEMTIME = Struct(
    "wYear" / Int16ul, "wMonth" / Int16ul, "wDayOfWeek" / Int16ul, "wDay" / Int16ul,
    "wHour" / Int16ul, "wMinute" / Int16ul, "wSecond" / Int16ul, "wMilliseconds" / Int16ul,
)

TIME_ZONE_INFORMATION = Struct(
    "Bias" / Int32sl,                                   # +0x00
    "StandardName" / PaddedString(64, "utf_16_le"),     # +0x04 WCHAR[32]
    "StandardDate" / SYSTEMTIME,                        # +0x44
    "StandardBias" / Int32sl,                           # +0x54
    "DaylightName" / PaddedString(64, "utf_16_le"),     # +0x58
    "DaylightDate" / SYSTEMTIME,                        # +0x98
    "DaylightBias" / Int32sl,                           # +0xA8
)
assert TIME_ZONE_INFORMATION.sizeof() == 172

_V3 = _V2 + (
    "ProcessIntegrityLevel" / Int32ul,        # +0x2C
    "ProcessExecuteFlags" / Int32ul,          # +0x30
    "ProtectedProcess" / Int32ul,             # +0x34
    "TimeZoneId" / Int32ul,                   # +0x38
    "TimeZone" / TIME_ZONE_INFORMATION,       # +0x3C
)
_V4 = _V3 + (
    "BuildString" / PaddedString(520, "utf_16_le"),  # +0xE8 WCHAR[MAX_PATH]
    "DbgBldStr" / PaddedString(80, "utf_16_le"),     # +0x2F0 WCHAR[40]
)

XSTATE_FEATURE = Struct("Offset" / Int32ul, "Size" / Int32ul)

XSTATE_CONFIG_FEATURE_MSC_INFO = Struct(
    "SizeOfInfo" / Int32ul,                   # +0x00
    "ContextSize" / Int32ul,                  # +0x04
    "EnabledFeatures" / Int64ul,              # +0x08
    "Features" / Array(64, XSTATE_FEATURE),   # +0x10
)
assert XSTATE_CONFIG_FEATURE_MSC_INFO.sizeof() == 528

_V5 = _V4 + (
    "XStateData" / XSTATE_CONFIG_FEATURE_MSC_INFO,  # +0x340
    "ProcessCookie" / Int32ul,                # +0x550
)

MINIDUMP_MISC_INFO = Struct(*_V1)
MINIDUMP_MISC_INFO_2 = Struct(*_V2)
MINIDUMP_MISC_INFO_3 = Struct(*_V3)
MINIDUMP_MISC_INFO_4 = Struct(*_V4)
MINIDUMP_MISC_INFO_5 = Struct(*_V5)

MISC_INFO_BY_SIZE = {
    MINIDUMP_MISC_INFO.sizeof(): MINIDUMP_MISC_INFO,        # 24
    MINIDUMP_MISC_INFO_2.sizeof(): MINIDUMP_MISC_INFO_2,    # 44
    MINIDUMP_MISC_INFO_3.sizeof(): MINIDUMP_MISC_INFO_3,    # 232
    MINIDUMP_MISC_INFO_4.sizeof(): MINIDUMP_MISC_INFO_4,    # 832
    MINIDUMP_MISC_INFO_5.sizeof(): MINIDUMP_MISC_INFO_5,    # 1364
}


def misc_info_layout(size_of_info: int) -> Optional[Struct]:
    """The largest version whose size fits in ``size_of_info`` (None below version 1)."""
    fitting = [size for size in MISC_INFO_BY_SIZE if size <= size_of_info]
    return MISC_INFO_BY_SIZE[max(fitting)] if fitting else None


__all__ = [
    "MISC_INFO_FLAGS1", "SYSTEMTIME", "TIME_ZONE_INFORMATION", "XSTATE_FEATURE",
    "XSTATE_CONFIG_FEATURE_MSC_INFO", "MINIDUMP_MISC_INFO", "MINIDUMP_MISC_INFO_2",
    "MINIDUMP_MISC_INFO_3", "MINIDUMP_MISC_INFO_4", "MINIDUMP_MISC_INFO_5", "MISC_INFO_BY_SIZE",
    "misc_info_layout",
]
