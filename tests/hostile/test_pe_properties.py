"""Property tests over the PE directories dumpkit decodes itself (issue 12): the load config
with its SafeSEH table, and the debug directory with its records, each read through pefile
(headers, sections, RVA mapping) and then our parsers. Mutations land in those directories of
real sample images (tests/hostile/mutate.py); whatever they hold, ``PeImage.from_bytes``
returns an image whose JSON renders, or raises our documented error, and ``debugdir`` on the
file exits 0 or 2 with at most a one-line error. The construct layouts themselves must build
back to the bytes they parsed, whatever those are.

Examples per run: 600 + 600 + 400 + 400 + 300 + 300 = 2,600 (see tests/hostile/README.md).
"""

from __future__ import annotations

import json
import struct
import tempfile
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402
import pefile  # noqa: E402

from commands.cli import cli  # noqa: E402
from parsers.load_config import SEHANDLER_TABLE, load_config_layout  # noqa: E402
from parsers.pe_debug import (IMAGE_DEBUG_DIRECTORY, IMAGE_DEBUG_DIRECTORY_SIZE,  # noqa: E402
                              IMAGE_DEBUG_TYPE, debug_record)
from tests.cli_runner import split_runner  # noqa: E402
from tests.hostile.mutate import PROPERTY_SETTINGS, apply_edits, edits  # noqa: E402
from toolkit.model.errors import DumpkitError  # noqa: E402
from toolkit.targets.pe.image import DIR_DEBUG, DIR_LOAD_CONFIG, PeImage  # noqa: E402

BIN = Path(__file__).resolve().parents[2] / "samples/bin"
SEH_EXE = (BIN / "seh_x86.exe").read_bytes()          # load config 0x48 + 3 SafeSEH handlers
CRASH_EXE = (BIN / "crash_x64.exe").read_bytes()      # debug directory: CODEVIEW, REPRO


def _data_directory_entry(pe: pefile.PE, index: int) -> tuple:
    entry = pe.OPTIONAL_HEADER.DATA_DIRECTORY[index]
    return entry.get_file_offset(), entry.get_file_offset() + 8


def _load_config_regions(data: bytes) -> list:
    """The load config, the SafeSEH table it points at and the data-directory entry."""
    pe = pefile.PE(data=data, fast_load=True)
    lc = pe.OPTIONAL_HEADER.DATA_DIRECTORY[DIR_LOAD_CONFIG]
    at = pe.get_offset_from_rva(lc.VirtualAddress)
    table_va, count = struct.unpack_from("<II", data, at + 0x40)
    table = pe.get_offset_from_rva(table_va - pe.OPTIONAL_HEADER.ImageBase)
    assert count == 3, "seh_x86.exe is expected to list three SafeSEH handlers"
    return [(at, at + lc.Size), (at + 0x40, at + 0x48), (table, table + 4 * count),
            _data_directory_entry(pe, DIR_LOAD_CONFIG)]


def _debug_regions(data: bytes) -> list:
    """The debug directory's entries, each entry's Type, each payload, the directory entry."""
    pe = pefile.PE(data=data, fast_load=True)
    dd = pe.OPTIONAL_HEADER.DATA_DIRECTORY[DIR_DEBUG]
    at = pe.get_offset_from_rva(dd.VirtualAddress)
    regions = [(at, at + dd.Size), _data_directory_entry(pe, DIR_DEBUG)]
    for i in range(dd.Size // IMAGE_DEBUG_DIRECTORY_SIZE):
        entry = IMAGE_DEBUG_DIRECTORY.parse(data[at + i * IMAGE_DEBUG_DIRECTORY_SIZE:])
        regions.append((at + i * IMAGE_DEBUG_DIRECTORY_SIZE + 0x0C,
                        at + i * IMAGE_DEBUG_DIRECTORY_SIZE + 0x10))
        regions.append((entry.PointerToRawData, entry.PointerToRawData + entry.SizeOfData))
    return regions


LOAD_CONFIG_REGIONS = _load_config_regions(SEH_EXE)
DEBUG_REGIONS = _debug_regions(CRASH_EXE)
DEBUG_TYPES = st.sampled_from(sorted(IMAGE_DEBUG_TYPE.values()) + [0x1F, 0xFFFFFFFF])


def _image_or_refusal(data: bytes, name: str):
    """The image (its JSON must render) or None when refused with our error."""
    try:
        image = PeImage.from_bytes(data, name)
    except DumpkitError:
        return None
    json.dumps(image.to_json())
    return image


def _debugdir_exits_0_or_2_in_one_line(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"mutated{suffix}"
        path.write_bytes(data)
        result = split_runner().invoke(cli, ["debugdir", str(path), "--json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    assert result.exit_code in (0, 2), result.exit_code
    if result.exit_code == 2:
        assert len(result.stderr.splitlines()) == 1, result.stderr
    else:
        json.loads(result.stdout)


@settings(max_examples=600, **PROPERTY_SETTINGS)
@given(edits())
def test_a_mutated_load_config_and_safeseh_table_decode_or_are_refused(chosen):
    data = apply_edits(SEH_EXE, LOAD_CONFIG_REGIONS, chosen, extra=[len(SEH_EXE)])
    image = _image_or_refusal(data, "seh_x86.exe")
    if image is not None and image.load_config is not None:
        handlers = image.load_config.safeseh_handlers
        assert list(handlers) == sorted(handlers)
        assert 4 * len(handlers) <= image.size_of_image       # never more than the image holds


@settings(max_examples=600, **PROPERTY_SETTINGS)
@given(edits(), st.lists(DEBUG_TYPES, min_size=2, max_size=2))
def test_a_mutated_debug_directory_decodes_or_is_refused(chosen, types):
    data = bytearray(CRASH_EXE)
    for (start, _end), value in zip(DEBUG_REGIONS[2::2], types):  # every entry's Type
        struct.pack_into("<I", data, start, value)
    data = apply_edits(bytes(data), DEBUG_REGIONS, chosen, extra=[len(CRASH_EXE)])
    image = _image_or_refusal(data, "crash_x64.exe")
    if image is not None:
        assert len(image.debug_entries) <= 64


@settings(max_examples=400, **PROPERTY_SETTINGS)
@given(st.booleans(), st.binary(min_size=12, max_size=0x200))
def test_any_load_config_bytes_parse_and_build_back_to_themselves(is64, body):
    raw = len(body).to_bytes(4, "little") + body[4:]        # Size says how much it covers
    layout = load_config_layout(is64)
    assert layout.build(layout.parse(raw)) == raw


@settings(max_examples=400, **PROPERTY_SETTINGS)
@given(DEBUG_TYPES, st.binary(max_size=300))
def test_any_debug_record_payload_decodes_or_raises_a_construct_error(type_value, payload):
    """decode_debug_entry turns a ConstructError into a raw record; nothing else may escape."""
    from construct import ConstructError
    from toolkit.targets.pe.records import decode_debug_entry
    entry = IMAGE_DEBUG_DIRECTORY.parse(struct.pack("<IIHHIIII", 0, 0, 0, 0, type_value,
                                                    len(payload), 0, 0x400))
    try:
        debug_record(entry.Type).parse(payload)
    except ConstructError:
        pass
    json.dumps(decode_debug_entry(0, entry, payload).to_json())


@settings(max_examples=300, **PROPERTY_SETTINGS)
@given(edits(4))
def test_debugdir_on_a_mutated_image_exits_0_or_2(chosen):
    regions = DEBUG_REGIONS if chosen[0][0] % 2 else LOAD_CONFIG_REGIONS
    base = CRASH_EXE if regions is DEBUG_REGIONS else SEH_EXE
    _debugdir_exits_0_or_2_in_one_line(apply_edits(base, regions, chosen, [len(base)]), ".exe")


@settings(max_examples=300, **PROPERTY_SETTINGS)
@given(st.integers(0, 64), st.binary(max_size=64))
def test_a_safeseh_table_of_any_count_parses_to_that_many_rvas(count, tail):
    raw = bytes(range(256)) * (4 * count // 256 + 1)
    table = SEHANDLER_TABLE(count).parse(raw[:4 * count] + tail)
    assert len(table) == count
    assert SEHANDLER_TABLE(count).build(table) == raw[:4 * count]
