"""The struct decoder of thread contexts (``registers_from_bytes``, what the minidump backend
runs) against the construct layouts that specify them (``registers_of`` over
``CONTEXT_LAYOUTS``): the same registers, values and key order on every context of every corpus
minidump, the exception contexts included, and on an ARM64 record packed independently."""

from __future__ import annotations

import struct

import pytest

from parsers.context import (CONTEXT_LAYOUTS, CONTEXT_SIZES, context_kind, registers_from_bytes,
                             registers_of)
from tests.conftest import CORPUS
from toolkit.model.errors import DumpkitError
from toolkit.targets.minidump import package
from toolkit.targets.minidump.file import MinidumpFile


def _corpus_contexts():
    """(dump, kind, bytes) of every thread and exception context in the corpus minidumps."""
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is not beside the repository")
    found = []
    for path in sorted(CORPUS.rglob("*.dmp")):
        try:
            with MinidumpFile(path) as f:
                system, _ = package.system_info(f)
                records = [(t.context_rva, t.context_size) for t in package.thread_list(f)]
                exc = package.exception_record(f) if f.has(6) else None
                if exc is not None:
                    records.append((exc.context_rva, exc.context_size))
                for rva, size in records:
                    if not size or not rva:
                        continue
                    data = bytes(f.slice(rva, size, 3, "context"))
                    kind = context_kind(system.arch.value, size, data[:4])
                    if kind is not None:
                        found.append((path.name, kind, data[:CONTEXT_SIZES[kind]]))
        except DumpkitError:
            continue
    return found


def test_struct_decoder_equals_the_construct_layouts_on_every_corpus_context():
    contexts = _corpus_contexts()
    kinds = {kind for _, kind, _ in contexts}
    assert len(contexts) > 100 and {"x86", "amd64"} <= kinds
    for name, kind, data in contexts:
        expected = registers_of(kind, CONTEXT_LAYOUTS[kind].parse(data))
        got = registers_from_bytes(kind, data)
        assert list(got.items()) == list(expected.items()), f"{name} ({kind})"


def test_struct_decoder_equals_the_construct_layout_on_an_arm64_record():
    x = [0x1000 + i for i in range(29)]
    data = bytearray(CONTEXT_SIZES["arm64"])
    struct.pack_into("<II29QQQQQ", data, 0, 0x400002, 0x60000000, *x, 0xF0F0, 0x1234,
                     0x7FF0000, 0x140001000)
    struct.pack_into("<II", data, 0x310, 0x11, 0x22)
    expected = registers_of("arm64", CONTEXT_LAYOUTS["arm64"].parse(bytes(data)))
    assert list(registers_from_bytes("arm64", bytes(data)).items()) == list(expected.items())
    assert expected["pc"] == 0x140001000 and expected["fpsr"] == 0x22


def test_struct_decoder_refuses_a_short_record():
    with pytest.raises(ValueError):
        registers_from_bytes("amd64", bytes(CONTEXT_SIZES["amd64"] - 1))
