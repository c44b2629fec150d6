"""winnt.h IMAGE_LOAD_CONFIG_DIRECTORY32 / IMAGE_LOAD_CONFIG_DIRECTORY64, versioned by Size.

The directory grew with each Windows SDK; its first dword, ``Size``, says how much of it an
image carries (0x48 classic x86 SafeSEH, 0x5C/0x94 Control Flow Guard, ... 0xC0/0x140 in the
22H2 SDK). Every field past the first 12 bytes is wrapped in ``If(this.Size >= end)``, so a
short directory parses to the fields it covers (the others are None) and builds back to the
same ``Size`` bytes; a Size that ends inside a field keeps those bytes in ``Trailing``.

Offsets: winnt.h (Windows SDK 10.0.22621) and the PE/COFF specification "Load Configuration
Layout"; ``UmaFunctionPointers`` is from SDK 10.0.26100 (documented there, absent earlier).
The SafeSEH handler table (``SEHandlerTable``, a VA) is an array of ``SEHandlerCount`` RVAs,
sorted by the linker; lld does not align the table to 4, so readers must not assume it.
"""

from __future__ import annotations

from typing import Any, List, Tuple

from construct import (
    Array, Bytes, Construct, If, Int16ul, Int32ul, Int64ul, Struct, Tell, this,
)

from parsers.flags import FlagsEnumKeep

# GuardFlags (winnt.h IMAGE_GUARD_*). The top nibble (IMAGE_GUARD_CF_FUNCTION_TABLE_SIZE_MASK,
# 0xF0000000) is the number of extra bytes per GuardCFFunctionTable entry; it is kept by
# FlagsEnumKeep in ``_unknown`` and read with ``guard_cf_stride``.
IMAGE_GUARD = dict(
    IMAGE_GUARD_CF_INSTRUMENTED=0x00000100,
    IMAGE_GUARD_CFW_INSTRUMENTED=0x00000200,
    IMAGE_GUARD_CF_FUNCTION_TABLE_PRESENT=0x00000400,
    IMAGE_GUARD_SECURITY_COOKIE_UNUSED=0x00000800,
    IMAGE_GUARD_PROTECT_DELAYLOAD_IAT=0x00001000,
    IMAGE_GUARD_DELAYLOAD_IAT_IN_ITS_OWN_SECTION=0x00002000,
    IMAGE_GUARD_CF_EXPORT_SUPPRESSION_INFO_PRESENT=0x00004000,
    IMAGE_GUARD_CF_ENABLE_EXPORT_SUPPRESSION=0x00008000,
    IMAGE_GUARD_CF_LONGJUMP_TABLE_PRESENT=0x00010000,
    IMAGE_GUARD_RF_INSTRUMENTED=0x00020000,
    IMAGE_GUARD_RF_ENABLE=0x00040000,
    IMAGE_GUARD_RF_STRICT=0x00080000,
    IMAGE_GUARD_RETPOLINE_PRESENT=0x00100000,
    IMAGE_GUARD_EH_CONTINUATION_TABLE_PRESENT=0x00400000,
    IMAGE_GUARD_XFG_ENABLED=0x00800000,
    IMAGE_GUARD_CASTGUARD_PRESENT=0x01000000,
    IMAGE_GUARD_MEMCPY_PRESENT=0x02000000,
)
IMAGE_GUARD_CF_FUNCTION_TABLE_SIZE_SHIFT = 28

IMAGE_LOAD_CONFIG_CODE_INTEGRITY = Struct(
    "Flags" / Int16ul,                                   # +0x00
    "Catalog" / Int16ul,                                 # +0x02
    "CatalogOffset" / Int32ul,                           # +0x04
    "Reserved" / Int32ul,                                # +0x08
)

# (name, construct, offset32, offset64): one table drives both layouts so they cannot drift.
# "P" marks pointer-sized fields (ULONG in the 32-bit directory, ULONGLONG in the 64-bit one).
_P = "P"
_FIELDS: List[Tuple[str, Any, int, int]] = [
    ("GlobalFlagsClear", Int32ul, 0x0C, 0x0C),
    ("GlobalFlagsSet", Int32ul, 0x10, 0x10),
    ("CriticalSectionDefaultTimeout", Int32ul, 0x14, 0x14),
    ("DeCommitFreeBlockThreshold", _P, 0x18, 0x18),
    ("DeCommitTotalFreeThreshold", _P, 0x1C, 0x20),
    ("LockPrefixTable", _P, 0x20, 0x28),
    ("MaximumAllocationSize", _P, 0x24, 0x30),
    ("VirtualMemoryThreshold", _P, 0x28, 0x38),
    # x86 puts ProcessHeapFlags before ProcessAffinityMask; x64 swaps them (alignment).
    ("ProcessHeapFlags", Int32ul, 0x2C, 0x48),
    ("ProcessAffinityMask", _P, 0x30, 0x40),
    ("CSDVersion", Int16ul, 0x34, 0x4C),
    ("DependentLoadFlags", Int16ul, 0x36, 0x4E),
    ("EditList", _P, 0x38, 0x50),
    ("SecurityCookie", _P, 0x3C, 0x58),
    ("SEHandlerTable", _P, 0x40, 0x60),
    ("SEHandlerCount", _P, 0x44, 0x68),
    ("GuardCFCheckFunctionPointer", _P, 0x48, 0x70),
    ("GuardCFDispatchFunctionPointer", _P, 0x4C, 0x78),
    ("GuardCFFunctionTable", _P, 0x50, 0x80),
    ("GuardCFFunctionCount", _P, 0x54, 0x88),
    ("GuardFlags", FlagsEnumKeep(Int32ul, **IMAGE_GUARD), 0x58, 0x90),
    ("CodeIntegrity", IMAGE_LOAD_CONFIG_CODE_INTEGRITY, 0x5C, 0x94),
    ("GuardAddressTakenIatEntryTable", _P, 0x68, 0xA0),
    ("GuardAddressTakenIatEntryCount", _P, 0x6C, 0xA8),
    ("GuardLongJumpTargetTable", _P, 0x70, 0xB0),
    ("GuardLongJumpTargetCount", _P, 0x74, 0xB8),
    ("DynamicValueRelocTable", _P, 0x78, 0xC0),
    ("CHPEMetadataPointer", _P, 0x7C, 0xC8),
    ("GuardRFFailureRoutine", _P, 0x80, 0xD0),
    ("GuardRFFailureRoutineFunctionPointer", _P, 0x84, 0xD8),
    ("DynamicValueRelocTableOffset", Int32ul, 0x88, 0xE0),
    ("DynamicValueRelocTableSection", Int16ul, 0x8C, 0xE4),
    ("Reserved2", Int16ul, 0x8E, 0xE6),
    ("GuardRFVerifyStackPointerFunctionPointer", _P, 0x90, 0xE8),
    ("HotPatchTableOffset", Int32ul, 0x94, 0xF0),
    ("Reserved3", Int32ul, 0x98, 0xF4),
    ("EnclaveConfigurationPointer", _P, 0x9C, 0xF8),
    ("VolatileMetadataPointer", _P, 0xA0, 0x100),
    ("GuardEHContinuationTable", _P, 0xA4, 0x108),
    ("GuardEHContinuationCount", _P, 0xA8, 0x110),
    ("GuardXFGCheckFunctionPointer", _P, 0xAC, 0x118),
    ("GuardXFGDispatchFunctionPointer", _P, 0xB0, 0x120),
    ("GuardXFGTableDispatchFunctionPointer", _P, 0xB4, 0x128),
    ("CastGuardOsDeterminedFailureMode", _P, 0xB8, 0x130),
    ("GuardMemcpyFunctionPointer", _P, 0xBC, 0x138),
    ("UmaFunctionPointers", _P, 0xC0, 0x140),            # SDK 10.0.26100
]


def _layout(is64: bool) -> Construct:
    pointer = Int64ul if is64 else Int32ul
    fields = [
        "Size" / Int32ul,                                # +0x00
        "TimeDateStamp" / Int32ul,                       # +0x04
        "MajorVersion" / Int16ul,                        # +0x08
        "MinorVersion" / Int16ul,                        # +0x0A
    ]
    at = 0x0C
    for offset, name, con in sorted((f[3] if is64 else f[2], f[0], f[1]) for f in _FIELDS):
        con = pointer if con is _P else con
        assert offset == at, (name, hex(offset), hex(at))   # the table mirrors winnt.h
        at += con.sizeof()
        fields.append(name / If(this.Size >= at, con))
    fields += [
        "_end" / Tell,
        "Trailing" / If(this.Size > this._end, Bytes(this.Size - this._end)),
    ]
    return Struct(*fields)


IMAGE_LOAD_CONFIG_DIRECTORY32 = _layout(False)
IMAGE_LOAD_CONFIG_DIRECTORY64 = _layout(True)
LOAD_CONFIG_FULL_SIZE32 = 0xC4
LOAD_CONFIG_FULL_SIZE64 = 0x148

# The SafeSEH table: SEHandlerCount handler RVAs at SEHandlerTable (no alignment assumed).
def SEHANDLER_TABLE(count: int) -> Construct:
    return Array(count, Int32ul)


def guard_cf_stride(guard_flags: Any) -> int:
    """Extra bytes per GuardCFFunctionTable entry (IMAGE_GUARD_CF_FUNCTION_TABLE_SIZE_MASK)."""
    unknown = int(guard_flags.get("_unknown", 0)) if hasattr(guard_flags, "get") else int(guard_flags)
    return (unknown >> IMAGE_GUARD_CF_FUNCTION_TABLE_SIZE_SHIFT) & 0xF


def load_config_layout(is64: bool) -> Construct:
    return IMAGE_LOAD_CONFIG_DIRECTORY64 if is64 else IMAGE_LOAD_CONFIG_DIRECTORY32


__all__ = [
    "IMAGE_GUARD", "IMAGE_LOAD_CONFIG_CODE_INTEGRITY", "IMAGE_LOAD_CONFIG_DIRECTORY32",
    "IMAGE_LOAD_CONFIG_DIRECTORY64", "LOAD_CONFIG_FULL_SIZE32", "LOAD_CONFIG_FULL_SIZE64",
    "SEHANDLER_TABLE", "guard_cf_stride", "load_config_layout",
]
