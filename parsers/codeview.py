"""CodeView debug-information records (CV_INFO_PDB70 "RSDS", CV_INFO_PDB20 "NB10").

The same bytes appear as the payload of an IMAGE_DEBUG_TYPE_CODEVIEW debug-directory entry and
as a minidump module's CvRecord. Layouts from Microsoft's "Matching debug information" notes
(cvinfo.h / the DIA SDK): the PDB path is a NUL-terminated byte string, usually UTF-8 (RSDS) or
the ANSI code page (NB10).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from construct import Bytes, Const, CString, Int32ul, Struct

from toolkit.model.debug_id import DebugId

CV_INFO_PDB70 = Struct(
    "CvSignature" / Const(b"RSDS"),      # +0x00
    "Signature" / Bytes(16),             # +0x04 GUID, Data1..Data3 little-endian
    "Age" / Int32ul,                     # +0x14
    "PdbFileName" / CString("utf8"),     # +0x18
)

CV_INFO_PDB20 = Struct(
    "CvSignature" / Const(b"NB10"),      # +0x00
    "Offset" / Int32ul,                  # +0x04 always 0 for a separate PDB
    "Signature" / Int32ul,               # +0x08 time_t-like PDB signature
    "Age" / Int32ul,                     # +0x0C
    "PdbFileName" / CString("utf8"),     # +0x10 (ANSI code page in practice; see parse_codeview)
)


@dataclass(frozen=True)
class CodeViewInfo:
    signature: str                       # "RSDS" | "NB10" | other 4-char tag
    debug_id: Optional[DebugId]
    pdb_name: Optional[str]


def parse_codeview(data: bytes) -> CodeViewInfo:
    """Decode a CodeView record; unknown or truncated records keep only their tag.

    Untrusted input: a PDB name that is not valid UTF-8 is decoded with replacement characters
    rather than rejected, because the debug id is still good.
    """
    tag = bytes(data[:4]).decode("latin1")
    try:
        if tag == "RSDS" and len(data) >= 24:
            guid, age = bytes(data[4:20]), int.from_bytes(data[20:24], "little")
            return CodeViewInfo(tag, DebugId.from_guid_bytes(guid, age), _cstr(data[24:], "utf-8"))
        if tag == "NB10" and len(data) >= 16:
            sig = int.from_bytes(data[8:12], "little")
            age = int.from_bytes(data[12:16], "little")
            return CodeViewInfo(tag, DebugId(sig, age), _cstr(data[16:], "latin1"))
    except ValueError:
        pass
    return CodeViewInfo(tag, None, None)


def _cstr(raw: bytes, encoding: str) -> str:
    end = raw.find(b"\0")
    return bytes(raw if end < 0 else raw[:end]).decode(encoding, errors="replace")


__all__ = ["CV_INFO_PDB70", "CV_INFO_PDB20", "CodeViewInfo", "parse_codeview"]
