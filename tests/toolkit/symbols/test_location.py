"""Location: the one formatter (``module!function+0xoff [file @ line]``) and its JSON view."""

from __future__ import annotations

from toolkit.symbols.location import InlineFrame, Location, SymbolStatus


def full() -> Location:
    return Location(0x402A3D, "crash.exe", 0x400000, "main", 0x12D, "c:\\src\\main.cpp", 35,
                    inlines=(InlineFrame("start", "c:\\src\\main.cpp", 28),),
                    status=SymbolStatus.EXACT)


def test_format_reads_like_windbg_with_module_stem_symbol_displacement_and_line():
    assert full().format(4) == "crash!main+0x12d [c:\\src\\main.cpp @ 35]"


def test_zero_displacement_is_not_printed():
    loc = Location(0x401000, "crash.exe", 0x400000, "RequestDump", 0, status=SymbolStatus.EXACT)
    assert loc.format(4) == "crash!RequestDump"


def test_without_a_symbol_the_offset_counts_from_the_module_base():
    loc = Location(0x402A3D, "ntdll.dll", 0x400000, displacement=0x2A3D)
    assert loc.format(4) == "ntdll+0x2a3d"


def test_without_a_module_the_address_is_printed_at_pointer_width():
    assert Location(0x10).format(4) == "0x00000010"
    assert Location(0x10).format(8) == "0x0000000000000010"


def test_module_label_keeps_names_without_a_short_extension():
    assert Location(0, "a.b.dll").module_label == "a.b"
    assert Location(0, "noext").module_label == "noext"


def test_json_has_padded_addresses_hex_displacement_status_and_inline_chain():
    doc = full().to_json(4)
    assert doc["address"] == "0x00402a3d"
    assert doc["module_base"] == "0x00400000"
    assert doc["displacement"] == "0x12d"
    assert doc["status"] == "exact"
    assert doc["inlines"] == [{"function": "start", "file": "c:\\src\\main.cpp", "line": 28}]
    assert doc["text"] == full().format(4)


def test_status_values_are_the_documented_five():
    assert {s.value for s in SymbolStatus} == {"exact", "public", "export", "missing",
                                               "mismatched"}
