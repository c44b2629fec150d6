"""The PE debug directory (winnt.h IMAGE_DEBUG_DIRECTORY) and the records its entries point at.

Layouts: Microsoft PE/COFF specification, "The .debug Section"; winnt.h for the type and
flag names. Records whose layout is not in the spec are marked "inferred" below with the
source we followed (LLVM's COFF writer/reader, Roslyn's PE writer, dumpbin output).

Every record ends in a ``Trailing`` GreedyBytes so that ``SizeOfData`` bytes always
parse and build back to themselves, whatever padding a linker left.
"""

from __future__ import annotations

from construct import (
    Aligned, Array, Byte, Bytes, ByteSwapped, BitStruct, BitsInteger, Const, CString, Enum,
    Flag, GreedyBytes, GreedyRange, If, Int16ul, Int32ul, NullTerminated, Optional, Select, Struct,
    this,
)

from parsers.codeview import CV_INFO_PDB20, CV_INFO_PDB70
from parsers.flags import FlagsEnumKeep

IMAGE_DEBUG_TYPE = {
    "IMAGE_DEBUG_TYPE_UNKNOWN": 0,
    "IMAGE_DEBUG_TYPE_COFF": 1,
    "IMAGE_DEBUG_TYPE_CODEVIEW": 2,
    "IMAGE_DEBUG_TYPE_FPO": 3,
    "IMAGE_DEBUG_TYPE_MISC": 4,
    "IMAGE_DEBUG_TYPE_EXCEPTION": 5,
    "IMAGE_DEBUG_TYPE_FIXUP": 6,
    "IMAGE_DEBUG_TYPE_OMAP_TO_SRC": 7,
    "IMAGE_DEBUG_TYPE_OMAP_FROM_SRC": 8,
    "IMAGE_DEBUG_TYPE_BORLAND": 9,
    "IMAGE_DEBUG_TYPE_RESERVED10": 10,
    "IMAGE_DEBUG_TYPE_CLSID": 11,
    "IMAGE_DEBUG_TYPE_VC_FEATURE": 12,
    "IMAGE_DEBUG_TYPE_POGO": 13,
    "IMAGE_DEBUG_TYPE_ILTCB": 14,
    "IMAGE_DEBUG_TYPE_MPX": 15,
    "IMAGE_DEBUG_TYPE_REPRO": 16,
    "IMAGE_DEBUG_TYPE_EMBEDDED_PORTABLE_PDB": 17,
    "IMAGE_DEBUG_TYPE_SPGO": 18,
    "IMAGE_DEBUG_TYPE_PDBCHECKSUM": 19,
    "IMAGE_DEBUG_TYPE_EX_DLLCHARACTERISTICS": 20,
}

IMAGE_DEBUG_DIRECTORY = Struct(
    "Characteristics" / Int32ul,                         # +0x00 reserved, 0
    "TimeDateStamp" / Int32ul,                           # +0x04
    "MajorVersion" / Int16ul,                            # +0x08
    "MinorVersion" / Int16ul,                            # +0x0A
    "Type" / Enum(Int32ul, **IMAGE_DEBUG_TYPE),          # +0x0C
    "SizeOfData" / Int32ul,                              # +0x10
    "AddressOfRawData" / Int32ul,                        # +0x14 RVA when mapped, else 0
    "PointerToRawData" / Int32ul,                        # +0x18 file offset
)
IMAGE_DEBUG_DIRECTORY_SIZE = 28

# --- IMAGE_DEBUG_TYPE_CODEVIEW: RSDS / NB10 from parsers.codeview, plus whatever follows the
# NUL (some linkers pad SizeOfData). A name that is not UTF-8 falls through to raw bytes.
CODEVIEW_RECORD = Select(
    Struct(*CV_INFO_PDB70.subcons, "Trailing" / GreedyBytes),
    Struct(*CV_INFO_PDB20.subcons, "Trailing" / GreedyBytes),
    Struct("CvSignature" / Bytes(4), "Trailing" / GreedyBytes),
)

# --- IMAGE_DEBUG_TYPE_FPO: an array of winnt.h FPO_DATA (16 bytes each).
FPO_DATA = Struct(
    "ulOffStart" / Int32ul,                              # +0x00 function start (RVA)
    "cbProcSize" / Int32ul,                              # +0x04
    "cdwLocals" / Int32ul,                               # +0x08 locals, in dwords
    "cdwParams" / Int16ul,                               # +0x0C parameters, in dwords
    # +0x0E WORD bit fields, low bit first: cbProlog:8 cbRegs:3 fHasSEH:1 fUseBP:1 reserved:1
    # cbFrame:2 (ByteSwapped because BitStruct reads most significant bit first).
    "Attributes" / ByteSwapped(BitStruct(
        "cbFrame" / Enum(BitsInteger(2), FRAME_FPO=0, FRAME_TRAP=1, FRAME_TSS=2, FRAME_NONFPO=3),
        "reserved" / BitsInteger(1),
        "fUseBP" / Flag,
        "fHasSEH" / Flag,
        "cbRegs" / BitsInteger(3),
        "cbProlog" / BitsInteger(8),
    )),
)
FPO_RECORD = Struct("Entries" / GreedyRange(FPO_DATA), "Trailing" / GreedyBytes)

# --- IMAGE_DEBUG_TYPE_MISC: winnt.h IMAGE_DEBUG_MISC (DataType 1 = IMAGE_DEBUG_MISC_EXENAME).
IMAGE_DEBUG_MISC = Struct(
    "DataType" / Int32ul,                                # +0x00
    "Length" / Int32ul,                                  # +0x04 whole record, multiple of 4
    "Unicode" / Byte,                                    # +0x08
    "Reserved" / Bytes(3),                               # +0x09
    "Data" / GreedyBytes,                                # +0x0C name, NUL padded
)

# --- IMAGE_DEBUG_TYPE_POGO (inferred: no public header; LLVM's COFFDumper and dumpbin agree):
# a signature dword, then {RVA, Size, NUL-terminated section-contribution name padded to 4}.
POGO_SIGNATURE = {"POGO_TYPE_LTCG": 0x4C544347, "POGO_TYPE_PGU": 0x50475500,
                  "POGO_TYPE_PGI": 0x50474900, "POGO_TYPE_PGO": 0x50474F00, "POGO_TYPE_NONE": 0}
POGO_ENTRY = Struct(
    "Rva" / Int32ul,                                     # +0x00
    "Size" / Int32ul,                                    # +0x04
    "Name" / Aligned(4, NullTerminated(GreedyBytes)),   # +0x08 bytes, NUL padded to 4
)
POGO_RECORD = Struct(
    "Signature" / Enum(Int32ul, **POGO_SIGNATURE),       # +0x00
    "Entries" / GreedyRange(POGO_ENTRY),                 # +0x04
    "Trailing" / GreedyBytes,
)

# --- IMAGE_DEBUG_TYPE_REPRO: empty (MSVC /Brepro without hash, Roslyn) or a length-prefixed
# hash (lld /Brepro, MSVC with /PDBALTPATH-era hashes). PE spec: "the hash of the image".
REPRO_RECORD = Select(Struct(
    "HashLength" / Optional(Int32ul),                    # +0x00 absent when SizeOfData is 0
    "Hash" / If(this.HashLength != None, Bytes(this.HashLength)),  # noqa: E711  +0x04
    "Trailing" / GreedyBytes,
), Struct("Trailing" / GreedyBytes))

# --- IMAGE_DEBUG_TYPE_VC_FEATURE (inferred from dumpbin /headers "Counts: Pre-VC++ 11.00=…,
# C/C++=…, /GS=…, /sdl=…, guardN=…"): object-file counts per feature.
VC_FEATURE_RECORD = Struct(
    "PreVC11" / Int32ul,                                 # +0x00 Pre-VC++ 11.00
    "CCpp" / Int32ul,                                    # +0x04 C/C++
    "Gs" / Int32ul,                                      # +0x08 /GS
    "Sdl" / Int32ul,                                     # +0x0C /sdl
    "GuardN" / Int32ul,                                  # +0x10 guardN
    "Trailing" / GreedyBytes,
)

# --- IMAGE_DEBUG_TYPE_EX_DLLCHARACTERISTICS: one dword of winnt.h IMAGE_DLLCHARACTERISTICS_EX_*.
IMAGE_DLLCHARACTERISTICS_EX = dict(
    IMAGE_DLLCHARACTERISTICS_EX_CET_COMPAT=0x01,
    IMAGE_DLLCHARACTERISTICS_EX_CET_COMPAT_STRICT_MODE=0x02,
    IMAGE_DLLCHARACTERISTICS_EX_CET_SET_CONTEXT_IP_VALIDATION_RELAXED_MODE=0x04,
    IMAGE_DLLCHARACTERISTICS_EX_CET_DYNAMIC_APIS_ALLOW_IN_PROC=0x08,
    IMAGE_DLLCHARACTERISTICS_EX_CET_RESERVED_1=0x10,
    IMAGE_DLLCHARACTERISTICS_EX_CET_RESERVED_2=0x20,
    IMAGE_DLLCHARACTERISTICS_EX_FORWARD_CFI_COMPAT=0x40,
    IMAGE_DLLCHARACTERISTICS_EX_HOTPATCH_COMPATIBLE=0x80,
)
EX_DLLCHARACTERISTICS_RECORD = Struct(
    "ExDllCharacteristics" / FlagsEnumKeep(Int32ul, **IMAGE_DLLCHARACTERISTICS_EX),  # +0x00
    "Trailing" / GreedyBytes,
)

# --- IMAGE_DEBUG_TYPE_PDBCHECKSUM (Roslyn / Portable PDB spec "PDB Checksum Debug Directory
# Entry"): UTF-8 NUL-terminated algorithm name ("SHA256"), then the checksum bytes.
PDBCHECKSUM_RECORD = Struct(
    "AlgorithmName" / CString("utf8"),                   # +0x00
    "Checksum" / GreedyBytes,
)

# --- IMAGE_DEBUG_TYPE_EMBEDDED_PORTABLE_PDB (Portable PDB spec): 'MPDB', uncompressed size,
# then a deflate stream.
EMBEDDED_PORTABLE_PDB_RECORD = Struct(
    "Signature" / Const(b"MPDB"),                        # +0x00
    "UncompressedSize" / Int32ul,                        # +0x04
    "DeflateData" / GreedyBytes,                         # +0x08
)

RAW_RECORD = Struct("Trailing" / GreedyBytes)

# Records by entry type; anything else stays raw bytes.
DEBUG_RECORDS = {
    "IMAGE_DEBUG_TYPE_CODEVIEW": CODEVIEW_RECORD,
    "IMAGE_DEBUG_TYPE_FPO": FPO_RECORD,
    "IMAGE_DEBUG_TYPE_MISC": Select(IMAGE_DEBUG_MISC, RAW_RECORD),
    "IMAGE_DEBUG_TYPE_POGO": Select(POGO_RECORD, RAW_RECORD),
    "IMAGE_DEBUG_TYPE_REPRO": REPRO_RECORD,
    "IMAGE_DEBUG_TYPE_VC_FEATURE": Select(VC_FEATURE_RECORD, RAW_RECORD),
    "IMAGE_DEBUG_TYPE_EX_DLLCHARACTERISTICS": Select(EX_DLLCHARACTERISTICS_RECORD, RAW_RECORD),
    "IMAGE_DEBUG_TYPE_PDBCHECKSUM": Select(PDBCHECKSUM_RECORD, RAW_RECORD),
    "IMAGE_DEBUG_TYPE_EMBEDDED_PORTABLE_PDB": Select(EMBEDDED_PORTABLE_PDB_RECORD, RAW_RECORD),
}


def debug_record(debug_type: object):
    """The construct that decodes the payload of an entry of ``debug_type`` (name or int)."""
    return DEBUG_RECORDS.get(str(debug_type), RAW_RECORD)


# A whole directory of N entries, as it sits at the debug data directory's RVA.
def IMAGE_DEBUG_DIRECTORY_ARRAY(count: int):
    return Array(count, IMAGE_DEBUG_DIRECTORY)


def debug_type_name(debug_type: object) -> str:
    """``CODEVIEW`` for ``IMAGE_DEBUG_TYPE_CODEVIEW``; ``TYPE_0x1F`` for unknown numbers."""
    text = str(debug_type)
    if text.startswith("IMAGE_DEBUG_TYPE_"):
        return text[len("IMAGE_DEBUG_TYPE_"):]
    try:
        return f"TYPE_{int(debug_type):#x}"  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return text


__all__ = [
    "IMAGE_DEBUG_TYPE", "IMAGE_DEBUG_DIRECTORY", "IMAGE_DEBUG_DIRECTORY_SIZE",
    "IMAGE_DEBUG_DIRECTORY_ARRAY", "CODEVIEW_RECORD", "FPO_DATA", "FPO_RECORD",
    "IMAGE_DEBUG_MISC", "POGO_SIGNATURE", "POGO_ENTRY", "POGO_RECORD", "REPRO_RECORD",
    "VC_FEATURE_RECORD", "IMAGE_DLLCHARACTERISTICS_EX", "EX_DLLCHARACTERISTICS_RECORD",
    "PDBCHECKSUM_RECORD", "EMBEDDED_PORTABLE_PDB_RECORD", "RAW_RECORD", "DEBUG_RECORDS",
    "debug_record", "debug_type_name",
]
