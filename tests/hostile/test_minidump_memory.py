"""Memory lists built to mislead the reader (issue 12): a Memory64List whose BaseRva makes the
ranges' file offsets wrap past 2**64 must not read the file header as memory."""

from __future__ import annotations

import numpy as np
import pytest

from parsers.minidump_memory import (MINIDUMP_MEMORY_DESCRIPTOR64_DTYPE, Memory64ListStream,
                                     build_memory64_list)
from tests.toolkit.minidump_builder import build_minidump, system_info
from toolkit.model.errors import UnreadableMemory
from toolkit.targets.open import open_target


def memory64_dump(base_rva: int) -> bytes:
    """Two ranges, 0x401000 (+0x1000) and 0x402000 (+0x40), their bytes at ``base_rva``."""
    table = np.array([(0x401000, 0x1000), (0x402000, 0x40)],
                     dtype=MINIDUMP_MEMORY_DESCRIPTOR64_DTYPE)
    return build_minidump([(7, system_info()),
                           (Memory64ListStream, lambda rva: build_memory64_list(base_rva, table))])


def test_base_rva_wrapping_past_2_64_is_reported_corrupt_not_read_from_the_header(tmp_path):
    path = tmp_path / "wrap.dmp"
    path.write_bytes(memory64_dump((1 << 64) - 0x1000))     # 2nd range's offset wraps to 0
    target = open_target(path)
    with pytest.raises(UnreadableMemory):
        target.read(0x402000, 4)
    assert [p.code for p in target.problems if "BaseRva" in p.message] == ["stream.memory"]


def test_base_rva_past_a_truncated_file_stays_a_truncation_note(tmp_path):
    path = tmp_path / "short.dmp"
    path.write_bytes(memory64_dump(0x100000))
    target = open_target(path)
    with pytest.raises(UnreadableMemory):
        target.read(0x401000, 4)
    assert "memory.truncated" in [p.code for p in target.problems]

