"""The exception in words: names from the NTSTATUS table, fast-fail codes, C++ thrown types."""

from __future__ import annotations

import struct

from tests.conftest import corpus_path
from tests.toolkit.triage.crash_builder import crash_dump
from toolkit.model.ntstatus import exception_name, fast_fail_name
from toolkit.targets.minidump.target import MinidumpTarget
from toolkit.targets.open import open_target
from toolkit.triage.exception import summarize_exception

IMAGE = 0x140000000


def test_winnt_alias_wins_over_the_ntstatus_name():
    assert exception_name(0xC0000005) == "EXCEPTION_ACCESS_VIOLATION"


def test_codes_outside_the_alias_list_come_from_the_full_table():
    assert exception_name(0xC0000022) == "STATUS_ACCESS_DENIED"
    assert exception_name(0xC0000008) == "EXCEPTION_INVALID_HANDLE"
    assert exception_name(0x12345678) is None


def test_fast_fail_codes_are_named_as_winnt_h_names_them():
    assert (fast_fail_name(7), fast_fail_name(2)) == ("FAST_FAIL_FATAL_APP_EXIT",
                                                      "FAST_FAIL_STACK_COOKIE_CHECK_FAILURE")


def test_fast_fail_dump_reports_parameter_zero_by_name():
    t = open_target(corpus_path("breakpad/processor/tiny-exe-fastfail.dmp"))
    s = summarize_exception(t, t.exception())
    assert (s.kind, s.fast_fail_code, s.detail) == ("fast_fail", 7, "FAST_FAIL_FATAL_APP_EXIT")
    assert s.crash_type == "EXCEPTION_STACK_BUFFER_OVERRUN / FAST_FAIL_FATAL_APP_EXIT"


def test_stack_overflow_dump_is_classed_as_stack_overflow():
    t = open_target(corpus_path("breakpad/processor/stack_exhaustion.dmp"))
    assert summarize_exception(t, t.exception()).kind == "stack_overflow"


def test_debugger_break_in_is_classed_as_breakpoint():
    t = open_target(corpus_path("wine/dumps/deadlock-i686-nocrt-winedbg.dmp"))
    s = summarize_exception(t, t.exception())
    assert (s.kind, s.name) == ("breakpoint", "EXCEPTION_BREAKPOINT")


def _cpp_throw(with_rdata: bool) -> MinidumpTarget:
    """A 64-bit MSVC throw: ThrowInfo -> CatchableTypeArray -> CatchableType -> TypeDescriptor,
    32-bit RVAs from the image base in Parameter[3], as the compiler lays them out."""
    rdata = bytearray(0x100)
    struct.pack_into("<IIII", rdata, 0x00, 0, 0, 0, 0x2010)      # ThrowInfo.pCatchableTypeArray
    struct.pack_into("<II", rdata, 0x10, 1, 0x2020)              # CatchableTypeArray
    struct.pack_into("<II", rdata, 0x20, 0, 0x2040)              # CatchableType.pType
    rdata[0x40 + 16:0x40 + 16 + 23] = b".?AVbad_alloc@std@@\0\0\0\0"
    memory = [(IMAGE + 0x2000, bytes(rdata))] if with_rdata else []
    dump = crash_dump(0xE06D7363, [0x19930520, 0x1000, IMAGE + 0x2000, IMAGE],
                      {"rip": IMAGE + 0x1000, "rsp": 0x10000}, memory=memory)
    return MinidumpTarget(dump)


def test_cpp_exception_names_the_thrown_type_from_throwinfo_memory():
    t = _cpp_throw(with_rdata=True)
    s = summarize_exception(t, t.exception())
    assert (s.kind, s.cpp_type, s.detail) == ("cpp_exception", ".?AVbad_alloc@std@@",
                                              "std::bad_alloc")


def test_cpp_exception_without_throwinfo_memory_has_no_type():
    t = _cpp_throw(with_rdata=False)
    s = summarize_exception(t, t.exception())
    assert (s.kind, s.cpp_type) == ("cpp_exception", None)


def test_x86_cpp_exception_follows_absolute_pointers():
    """32-bit throws hold plain pointers (no image-base RVAs, no Parameter[3])."""
    base = 0x00402000
    rdata = bytearray(0x80)
    struct.pack_into("<IIII", rdata, 0x00, 0, 0, 0, base + 0x10)   # ThrowInfo
    struct.pack_into("<II", rdata, 0x10, 1, base + 0x20)           # CatchableTypeArray
    struct.pack_into("<II", rdata, 0x20, 0, base + 0x40)           # CatchableType.pType
    rdata[0x40 + 8:0x40 + 8 + 30] = b".?AVruntime_error@std@@\0".ljust(30, b"\0")
    t = MinidumpTarget(crash_dump(0xE06D7363, [0x19930520, 0x1000, base], {"eip": 0x401000,
                                  "esp": 0x10000}, memory=[(base, bytes(rdata))], x86=True))
    s = summarize_exception(t, t.exception())
    assert (s.cpp_type, s.detail) == (".?AVruntime_error@std@@", "std::runtime_error")
