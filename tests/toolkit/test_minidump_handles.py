"""HandleData with MINIDUMP_HANDLE_DESCRIPTOR_2: object-information chains are followed to the
end, payloads decoded by their (inferred) layouts, loops cut, unknown payloads kept raw.
No corpus dump has v2 descriptors (MANIFEST.md), so these dumps are built with our layouts."""

from __future__ import annotations

import struct

import pytest

from toolkit.targets.minidump.target import MinidumpTarget
from tests.toolkit.minidump_builder import build_minidump, handle_stream, system_info


@pytest.fixture
def target():
    return MinidumpTarget(build_minidump([(7, system_info()), (12, handle_stream)]))


def test_descriptor_2_names_and_counts(target):
    mutant, thread = target.handles()
    assert (mutant.handle, mutant.type_name, mutant.object_name) == (0x40, "Mutant", "\\BaseNamedObjects\\M1")
    assert (thread.type_name, thread.object_name, thread.handle_count) == ("Thread", None, 1)


def test_object_information_chain_is_followed_to_its_end(target):
    mutant = target.handles()[0]
    assert [i.info_type for i in mutant.object_info] == \
        ["MiniMutantInformation1", "MiniMutantInformation2", "0x63"]


def test_mutant_owner_is_decoded_with_inferred_layout(target):
    owner = target.handles()[0].info("MiniMutantInformation2")
    assert owner.layout == "inferred"
    assert dict(owner.fields) == {"OwnerProcessId": 0x1234, "OwnerThreadId": 0x5678}
    count = target.handles()[0].info("MiniMutantInformation1")
    assert dict(count.fields) == {"Count": -1, "Abandoned": 0}


def test_unknown_payload_is_kept_raw(target):
    raw = target.handles()[0].object_info[2]
    assert (raw.layout, raw.raw, dict(raw.fields)) == ("raw", b"\x01\x02\x03\x04\x05", {})


def test_thread_information_payload(target):
    info = target.handles()[1].info("MiniThreadInformation1")
    assert info.fields["ThreadId"] == 0x99 and info.fields["StartAddress"] == 0x401000


def test_a_looping_chain_is_cut_and_reported():
    t = MinidumpTarget(build_minidump([(7, system_info()),
                                       (12, lambda rva: handle_stream(rva, loop=True))]))
    thread = t.handles()[1]
    assert len(thread.object_info) == 1
    assert any(p.code == "handle.info_chain" for p in t.problems)


def test_forged_descriptor_count_becomes_a_problem_not_a_crash():
    def forged(rva: int) -> bytes:
        data = bytearray(handle_stream(rva))
        data[8:12] = struct.pack("<I", 0x10000000)
        return bytes(data)
    t = MinidumpTarget(build_minidump([(7, system_info()), (12, forged)]))
    assert t.handles() is None
    assert any(p.code == "stream.handles" and "descriptors do not fit" in p.message
               for p in t.problems)
