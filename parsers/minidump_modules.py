"""Minidump module streams (minidumpapiset.h, verrsrc.h): ModuleList and UnloadedModuleList.

MINIDUMP_MODULE is 108 bytes under ``#pragma pack(4)``: its 64-bit fields sit at 4-byte offsets in
the list, which is why these are plain little-endian Structs with no alignment padding. The
CodeView record the CvRecord location points to is decoded by ``parsers.codeview``.
"""

from __future__ import annotations

from construct import Array, Container, Enum, FlagsEnum, Int32ul, Int64ul, Struct, this

from parsers.minidump import MINIDUMP_LOCATION_DESCRIPTOR

VS_FFI_SIGNATURE = 0xFEEF04BD

VS_FIXEDFILEINFO = Struct(
    "dwSignature" / Int32ul,                  # +0x00 VS_FFI_SIGNATURE, or 0 when absent
    "dwStrucVersion" / Int32ul,               # +0x04
    "dwFileVersionMS" / Int32ul,              # +0x08
    "dwFileVersionLS" / Int32ul,              # +0x0C
    "dwProductVersionMS" / Int32ul,           # +0x10
    "dwProductVersionLS" / Int32ul,           # +0x14
    "dwFileFlagsMask" / Int32ul,              # +0x18
    "dwFileFlags" / FlagsEnum(Int32ul, VS_FF_DEBUG=0x1, VS_FF_PRERELEASE=0x2, VS_FF_PATCHED=0x4,
                              VS_FF_PRIVATEBUILD=0x8, VS_FF_INFOINFERRED=0x10,
                              VS_FF_SPECIALBUILD=0x20),  # +0x1C
    "dwFileOS" / Int32ul,                     # +0x20 VOS_*
    "dwFileType" / Enum(Int32ul, VFT_UNKNOWN=0, VFT_APP=1, VFT_DLL=2, VFT_DRV=3, VFT_FONT=4,
                        VFT_VXD=5, VFT_STATIC_LIB=7),  # +0x24
    "dwFileSubtype" / Int32ul,                # +0x28
    "dwFileDateMS" / Int32ul,                 # +0x2C
    "dwFileDateLS" / Int32ul,                 # +0x30
)
assert VS_FIXEDFILEINFO.sizeof() == 52

MINIDUMP_MODULE = Struct(
    "BaseOfImage" / Int64ul,                  # +0x00
    "SizeOfImage" / Int32ul,                  # +0x08
    "CheckSum" / Int32ul,                     # +0x0C
    "TimeDateStamp" / Int32ul,                # +0x10
    "ModuleNameRva" / Int32ul,                # +0x14 -> MINIDUMP_STRING
    "VersionInfo" / VS_FIXEDFILEINFO,         # +0x18
    "CvRecord" / MINIDUMP_LOCATION_DESCRIPTOR,  # +0x4C
    "MiscRecord" / MINIDUMP_LOCATION_DESCRIPTOR,  # +0x54 IMAGE_DEBUG_MISC (old images)
    "Reserved0" / Int64ul,                    # +0x5C
    "Reserved1" / Int64ul,                    # +0x64
)
assert MINIDUMP_MODULE.sizeof() == 108

MINIDUMP_MODULE_LIST = Struct(
    "NumberOfModules" / Int32ul,              # +0x00
    "Modules" / Array(this.NumberOfModules, MINIDUMP_MODULE),  # +0x04
)

MINIDUMP_UNLOADED_MODULE = Struct(
    "BaseOfImage" / Int64ul,                  # +0x00
    "SizeOfImage" / Int32ul,                  # +0x08
    "CheckSum" / Int32ul,                     # +0x0C
    "TimeDateStamp" / Int32ul,                # +0x10
    "ModuleNameRva" / Int32ul,                # +0x14 -> MINIDUMP_STRING
)
assert MINIDUMP_UNLOADED_MODULE.sizeof() == 24

# Header only: entries follow at SizeOfHeader, SizeOfEntry apart.
MINIDUMP_UNLOADED_MODULE_LIST = Struct(
    "SizeOfHeader" / Int32ul,                 # +0x00
    "SizeOfEntry" / Int32ul,                  # +0x04
    "NumberOfEntries" / Int32ul,              # +0x08
)

# IMAGE_DEBUG_MISC (winnt.h): the pre-CodeView debug record some old modules carry.
IMAGE_DEBUG_MISC = Struct(
    "DataType" / Int32ul,                     # +0x00 IMAGE_DEBUG_MISC_EXENAME = 1
    "Length" / Int32ul,                       # +0x04 total record length, multiple of 4
    "Unicode" / Int32ul,                      # +0x08 BOOLEAN + 3 reserved bytes
)


def file_version(info: Container) -> "str | None":
    """``a.b.c.d`` from a parsed VS_FIXEDFILEINFO, or None when the block is absent."""
    if getattr(info, "dwSignature", 0) != VS_FFI_SIGNATURE:
        return None
    ms, ls = info.dwFileVersionMS, info.dwFileVersionLS
    return f"{ms >> 16}.{ms & 0xFFFF}.{ls >> 16}.{ls & 0xFFFF}"


__all__ = [
    "VS_FFI_SIGNATURE", "VS_FIXEDFILEINFO", "MINIDUMP_MODULE", "MINIDUMP_MODULE_LIST",
    "MINIDUMP_UNLOADED_MODULE", "MINIDUMP_UNLOADED_MODULE_LIST", "IMAGE_DEBUG_MISC",
    "file_version",
]
