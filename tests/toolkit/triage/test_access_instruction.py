"""Access analysis and the faulting instruction, on corpus dumps and built ones."""

from __future__ import annotations

import json

import pytest

from tests.conftest import corpus_path
from tests.corpus.test_all_dumps import WINDOWS
from tests.toolkit.triage.crash_builder import (MEM_COMMIT, PAGE_EXECUTE_READ, PAGE_READWRITE,
                                                crash_dump)
from tests.triage_peers import stackwalk_json
from toolkit.targets.minidump.target import MinidumpTarget
from toolkit.targets.open import open_target
from toolkit.triage.access import analyze_access
from toolkit.triage.instruction import disassemble

CODE = 0x140001000


def _access(rel: str):
    t = open_target(corpus_path(rel))
    return analyze_access(t, t.exception())


def test_null_write_is_null_class_write():
    a = _access("breakpad/processor/null_write_av.dmp")
    assert (a.access, a.null_class, a.failure_class) == ("write", True, "NULL_CLASS_PTR_WRITE")


def test_read_above_64k_is_not_null_class():
    a = _access("breakpad/processor/ascii_read_av_xchg_write.dmp")
    assert (a.access, a.null_class, a.failure_class) == ("read", False, "INVALID_POINTER_READ")


def test_execution_on_the_stack_is_flagged():
    a = _access("breakpad/processor/exec_av_on_stack.dmp")
    assert a.access == "execute" and a.on_stack and "exec_on_stack" in a.flags
    assert a.failure_class == "STACK_CODE_EXECUTION"


def test_general_protection_fault_takes_the_non_canonical_operand():
    code = bytes.fromhex("488b4108") + b"\xcc" * 12          # mov rax, [rcx+8]
    t = MinidumpTarget(crash_dump(0xC0000005, [0, 0xFFFFFFFFFFFFFFFF],
                                  {"rip": CODE, "rcx": 0x8000000000000000, "rsp": 0x10000},
                                  memory=[(CODE, code)]))
    ins = disassemble(t, CODE, t.exception().registers.values)
    (mem,) = ins.memory_accesses
    assert (mem.address, mem.size, mem.access) == (0x8000000000000008, 8, "read")
    a = analyze_access(t, t.exception(), mem.address)
    assert a.non_canonical and a.failure_class == "NON_CANONICAL_ADDRESS_READ"


def test_execute_in_non_executable_memory_uses_memory_info_list():
    t = MinidumpTarget(crash_dump(
        0xC0000005, [8, 0x20000000], {"rip": 0x20000000, "rsp": 0x10000},
        memory_info=[(0x20000000, 0x1000, MEM_COMMIT, PAGE_READWRITE),
                     (CODE, 0x1000, MEM_COMMIT, PAGE_EXECUTE_READ)]))
    a = analyze_access(t, t.exception())
    assert (a.executable, a.protection) == (False, "PAGE_READWRITE")
    assert "exec_non_executable" in a.flags


def test_without_memory_info_list_executability_is_unknown():
    a = _access("breakpad/processor/null_read_av.dmp")
    assert a.executable is None and a.protection is None


@pytest.mark.parametrize("rel", WINDOWS)
def test_memory_accesses_match_rust_minidump(rel):
    dump = corpus_path(rel)
    peer = json.loads(stackwalk_json(dump))["crash_info"]
    if peer.get("memory_accesses") is None:
        pytest.skip("rust-minidump reports no memory accesses for this dump")
    t = open_target(dump)
    regs = dict(t.exception().registers.values)
    ins = disassemble(t, regs[t.arch.ip_register], regs)
    ours = [{"access_type": m.access, "address": f"0x{m.address:0{t.pointer_size * 2}x}",
             "size": m.size} for m in ins.memory_accesses]
    assert ours == (peer["memory_accesses"] or [])
    assert ins.text.split()[0] == peer["instruction"].split()[0]   # operand syntax differs
