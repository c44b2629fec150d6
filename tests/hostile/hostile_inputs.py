"""Builders of hostile inputs (issue 12), each from a real sample or a writer of our own, and the
one way these tests run the installed ``dumpkit`` script."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path
from typing import List

from parsers.minidump import MINIDUMP_DIRECTORY, MINIDUMP_HEADER
from parsers.minidump_modules import MINIDUMP_MODULE

REPO = Path(__file__).resolve().parents[2]
SAMPLE_X64 = REPO / "samples/dumps/crash_x64-full-trim-cv.dmp"
MODULE_LIST = 4


def dumpkit_command() -> List[str]:
    """The installed console script beside this interpreter (CI never activates the venv)."""
    exe = Path(sys.executable).parent / "dumpkit"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "toolkit"]


def run_dumpkit(*args: str, stdin: str = "", timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(dumpkit_command() + list(args), input=stdin, capture_output=True,
                          text=True, timeout=timeout)


def stream_location(dump: bytes, stream_type: int) -> tuple:
    """(rva, size) of the first stream of ``stream_type`` in a dump's directory."""
    header = MINIDUMP_HEADER.parse(dump)
    step = MINIDUMP_DIRECTORY.sizeof()
    for i in range(header.NumberOfStreams):
        entry = MINIDUMP_DIRECTORY.parse(dump[header.StreamDirectoryRva + i * step:])
        if int(entry.StreamType) == stream_type:
            return entry.Location.Rva, entry.Location.DataSize
    raise LookupError(f"no stream {stream_type:#x}")


def with_module_base(dump: bytes, index: int, base: int, size: int) -> bytes:
    """The dump with ModuleList entry ``index`` moved to ``base`` / ``size``."""
    rva, _ = stream_location(dump, MODULE_LIST)
    at = rva + 4 + index * MINIDUMP_MODULE.sizeof()
    out = bytearray(dump)
    struct.pack_into("<QI", out, at, base, size)
    return bytes(out)


def with_module_name_chars(dump: bytes, index: int, text: str) -> bytes:
    """The dump with the last characters of ModuleList entry ``index``'s name (its file name)
    replaced by ``text`` (same UTF-16 length, so every RVA stays valid)."""
    rva, _ = stream_location(dump, MODULE_LIST)
    entry = MINIDUMP_MODULE.parse(dump[rva + 4 + index * MINIDUMP_MODULE.sizeof():])
    length = struct.unpack_from("<I", dump, entry.ModuleNameRva)[0]
    body = text.encode("utf-16-le")
    assert len(body) <= length, "replacement longer than the name"
    out = bytearray(dump)
    end = entry.ModuleNameRva + 4 + length
    out[end - len(body):end] = body
    return bytes(out)
