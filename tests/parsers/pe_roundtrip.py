"""One-line-per-case checks for construct layouts on real bytes, and corpus PE byte sources.

Bytes come from files in the corpus, located by pefile (an independent reader), never from the
definitions under test.
"""

from __future__ import annotations

from typing import List, Tuple

import pefile
from construct import Construct, SizeofError



def assert_roundtrip(con: Construct, data: bytes, **ctx) -> object:
    """parse -> build gives the same bytes; sizeof (when fixed) is their length; the compiled
    form parses to the same value. Returns the parsed value."""
    data = bytes(data)
    value = con.parse(data, **ctx)
    assert con.build(value, **ctx) == data
    try:
        assert con.sizeof(**ctx) == len(data)
    except SizeofError:
        pass
    try:
        compiled = con.compile()
    except Exception:  # noqa: BLE001 - layouts with custom adapters/Select do not compile
        compiled = None
    if compiled is not None:
        assert compiled.parse(data, **ctx) == value
    return value


def pe_debug_entries(path) -> List[Tuple[bytes, bytes]]:
    """(28 entry bytes, payload bytes) for each debug-directory entry, as pefile finds them."""
    pe = pefile.PE(str(path), fast_load=True)
    pe.parse_data_directories(directories=[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_DEBUG"]])
    out = []
    for entry in getattr(pe, "DIRECTORY_ENTRY_DEBUG", []):
        s = entry.struct
        payload = pe.__data__[s.PointerToRawData:s.PointerToRawData + s.SizeOfData] \
            if s.PointerToRawData else b""
        out.append((s.__pack__(), bytes(payload)))
    return out


def pe_load_config_bytes(path) -> Tuple[bool, bytes]:
    """(is PE32+, the load config's Size bytes) as pefile locates the directory."""
    pe = pefile.PE(str(path), fast_load=True)
    d = pe.OPTIONAL_HEADER.DATA_DIRECTORY[10]
    size = int.from_bytes(pe.get_data(d.VirtualAddress, 4), "little")
    return pe.PE_TYPE == pefile.OPTIONAL_HEADER_MAGIC_PE_PLUS, bytes(pe.get_data(d.VirtualAddress, size))
