"""winnt.h IMAGE_COR20_HEADER (the CLR header of .NET images): only what dumpkit reads.

pefile does not decode this directory; the ILONLY flag tells an analysis that the image holds
no native code (so no SafeSEH table is expected and NO_SEH is moot).
"""

from __future__ import annotations

from construct import Int16ul, Int32ul, Struct

from parsers.flags import FlagsEnumKeep

COMIMAGE_FLAGS = dict(
    COMIMAGE_FLAGS_ILONLY=0x00001,
    COMIMAGE_FLAGS_32BITREQUIRED=0x00002,
    COMIMAGE_FLAGS_IL_LIBRARY=0x00004,
    COMIMAGE_FLAGS_STRONGNAMESIGNED=0x00008,
    COMIMAGE_FLAGS_NATIVE_ENTRYPOINT=0x00010,
    COMIMAGE_FLAGS_TRACKDEBUGDATA=0x10000,
    COMIMAGE_FLAGS_32BITPREFERRED=0x20000,
)

IMAGE_DATA_DIRECTORY = Struct(
    "VirtualAddress" / Int32ul,                          # +0x00
    "Size" / Int32ul,                                    # +0x04
)

IMAGE_COR20_HEADER_HEAD = Struct(
    "cb" / Int32ul,                                      # +0x00 0x48
    "MajorRuntimeVersion" / Int16ul,                     # +0x04
    "MinorRuntimeVersion" / Int16ul,                     # +0x06
    "MetaData" / IMAGE_DATA_DIRECTORY,                   # +0x08
    "Flags" / FlagsEnumKeep(Int32ul, **COMIMAGE_FLAGS),  # +0x10
    "EntryPointToken" / Int32ul,                         # +0x14 (or EntryPointRVA)
)

__all__ = ["COMIMAGE_FLAGS", "IMAGE_DATA_DIRECTORY", "IMAGE_COR20_HEADER_HEAD"]
