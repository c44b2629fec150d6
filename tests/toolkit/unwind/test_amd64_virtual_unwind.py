"""The x64 unwinder against stacks built by executing real functions' prologs and epilogs.

tests/toolkit/unwind/x64_emulator.py runs each function's actual prolog instructions (decoded by
capstone) from a known call state; the unwinder, reading only the UNWIND_INFO, must recover the
return address, the caller's RSP and every saved non-volatile at every instruction boundary.
"""

from __future__ import annotations

import pytest

from tests.conftest import corpus_path
from tests.toolkit.unwind import x64_emulator as emu
from toolkit.model.errors import UnreadableMemory
from toolkit.unwind.amd64_epilog import parse_epilog
from toolkit.unwind.amd64_unwind_info import ImageUnwindData, file_rva_reader
from toolkit.unwind.amd64_virtual_unwind import UnwindRule, unwind_leaf, virtual_unwind

RET = 0x7FF6_1234_5678
CALLER_RSP = 0x0000_00C0_FFEE_F000
IMAGES = ["breakpad/dump_syms/dump_syms_regtest64.exe", "mozilla-dump_syms/windows/basic64.dll",
          "rizin-testbins/pdb/exceptions-test.exe", "symbolic/windows/CrashWithException.exe"]


class Image:
    def __init__(self, rel):
        data = corpus_path(rel).read_bytes()
        self.read_rva, self.base, rva, size = file_rva_reader(data)
        self.unwind = ImageUnwindData(self.read_rva, rva, size)

    def read_code(self, address, size):
        raw = self.read_rva(address - self.base, size)
        if len(raw) != size:
            raise UnreadableMemory(address, size)
        return raw

    def code(self, entry):
        return self.read_rva(entry.begin, entry.end - entry.begin)


def _expect_caller(result, start):
    assert result.rip == RET
    assert result.rsp == CALLER_RSP
    for name in emu.NONVOLATILES + tuple(f"xmm{k}" for k in range(6, 16)):
        if name in result.registers:
            assert result.registers[name] == start[name], name


def _prolog_states(image, entry):
    info = image.unwind.unwind_info(entry.unwind_data)
    regs, mem = emu.initial_state(RET, CALLER_RSP)
    return regs, emu.run_prolog(image.code(entry), image.base + entry.begin,
                                info.size_of_prolog, regs, mem)


def _plain_functions(image):
    for i in range(len(image.unwind.index)):
        entry = image.unwind.index.entry(i)
        info = image.unwind.unwind_info(entry.unwind_data)
        if info.chained is None and info.ops:
            yield entry, info


@pytest.mark.parametrize("rel", IMAGES)
def test_every_prolog_position_unwinds_to_the_caller(rel):
    image = Image(rel)
    checked = positions = 0
    for entry, info in _plain_functions(image):
        try:
            start, states = _prolog_states(image, entry)
        except emu.Unsupported:
            continue
        for offset, regs, mem in states:
            result = virtual_unwind(image.unwind, image.base, regs, mem.read, image.read_code)
            _expect_caller(result, start)
            if offset < info.size_of_prolog:
                assert result.rule in (UnwindRule.PROLOG, UnwindRule.EPILOG)
            positions += 1
        checked += 1
    assert checked >= 10, f"only {checked} functions had emulable prologs"
    assert positions > checked * 2


def test_frame_register_functions_unwind_through_set_fpreg():
    image = Image("mozilla-dump_syms/windows/basic64.dll")
    checked = 0
    for entry, info in _plain_functions(image):
        if info.frame_register is None:
            continue
        try:
            start, states = _prolog_states(image, entry)
        except emu.Unsupported:
            continue
        offset, regs, mem = states[-1]
        # Past the prolog the body may move RSP (alloca); only the frame register anchors it.
        regs = dict(regs, rsp=regs["rsp"] - 0x40, rip=image.base + entry.begin + offset)
        mem.write(regs["rsp"], bytes(0x40))
        _expect_caller(virtual_unwind(image.unwind, image.base, regs, mem.read,
                                      image.read_code), start)
        checked += 1
    assert checked >= 1


def test_static_frame_option_unwinds_a_frame_whose_frame_register_is_unknown():
    # A frame found by scanning: RIP and RSP known, the frame register not. Past the prolog of
    # a function without dynamic allocation, the option derives it from RSP.
    image = Image("mozilla-dump_syms/windows/basic64.dll")
    checked = 0
    for entry, info in _plain_functions(image):
        if info.frame_register is None:
            continue
        try:
            start, states = _prolog_states(image, entry)
        except emu.Unsupported:
            continue
        offset, regs, mem = states[-1]
        regs = {k: v for k, v in regs.items() if k != info.frame_register}
        regs["rip"] = image.base + entry.begin + offset
        with pytest.raises(KeyError):
            virtual_unwind(image.unwind, image.base, regs, mem.read, image.read_code)
        _expect_caller(virtual_unwind(image.unwind, image.base, regs, mem.read,
                                      image.read_code, static_frame=True), start)
        checked += 1
    assert checked >= 1


def _epilogs(image, entry, info):
    """Epilog starts whose entry state is the post-prolog state (RSP not moved before them)."""
    code = image.code(entry)
    previous = None
    for insn in emu.instructions(code, image.base + entry.begin):
        rva = insn.address - image.base
        tail = code[rva - entry.begin:]
        starts = insn.mnemonic in ("add", "lea") or (
            insn.mnemonic == "pop" and previous is not None and previous.mnemonic != "pop"
            and "rsp" not in previous.op_str.split(",")[0])
        if rva - entry.begin >= info.size_of_prolog and starts and \
                parse_epilog(tail, rva, entry, info) is not None:
            yield insn.address
        previous = insn


@pytest.mark.parametrize("rel", IMAGES[:3])
def test_every_epilog_instruction_unwinds_by_emulating_the_rest(rel):
    image = Image(rel)
    checked = 0
    for entry, info in _plain_functions(image):
        try:
            start, states = _prolog_states(image, entry)
        except emu.Unsupported:
            continue
        _, body_regs, body_mem = states[-1]
        for address in _epilogs(image, entry, info):
            regs, mem = dict(body_regs), emu._copy(body_mem)
            code = image.read_code(address, image.base + entry.end - address)
            for insn in emu.instructions(code, address):
                regs["rip"] = insn.address
                result = virtual_unwind(image.unwind, image.base, regs, mem.read, image.read_code)
                assert result.rule is UnwindRule.EPILOG
                _expect_caller(result, start)
                checked += 1
                if insn.mnemonic in ("ret", "jmp"):
                    break
                emu.step(insn, regs, mem)
            break   # one epilog per function keeps the test fast
    assert checked >= 20


@pytest.mark.parametrize("rel", ["mozilla-dump_syms/windows/basic64.dll",
                                 "rizin-testbins/pdb/exceptions-test.exe"])
def test_chained_fragments_unwind_through_every_parent(rel):
    image = Image(rel)
    checked = deep = 0
    for i in range(len(image.unwind.index)):
        entry = image.unwind.index.entry(i)
        chain = image.unwind.chain(entry)
        if len(chain) < 2 or any(i.ops and not i.size_of_prolog for _, i in chain):
            continue      # codes without a prolog: the saves ran in a sibling fragment
        regs, mem = emu.initial_state(RET, CALLER_RSP)
        start = dict(regs)
        try:
            # Control enters the root function, then each fragment: run every prolog in turn.
            for fragment, info in reversed(chain):
                code = image.read_rva(fragment.begin, info.size_of_prolog)
                _, regs, mem = emu.run_prolog(code, image.base + fragment.begin,
                                              info.size_of_prolog, regs, mem)[-1]
        except emu.Unsupported:
            continue
        info = chain[0][1]
        regs["rip"] = image.base + entry.begin + info.size_of_prolog
        if regs["rip"] >= image.base + entry.end or parse_epilog(
                image.read_code(regs["rip"], 16), regs["rip"] - image.base, entry, info):
            continue
        result = virtual_unwind(image.unwind, image.base, regs, mem.read, image.read_code)
        assert result.rule is UnwindRule.UNWIND_CODES
        _expect_caller(result, start)
        checked += 1
        deep += len(chain) > 2
    assert checked >= 3


def test_machine_frame_with_error_code_takes_rip_and_rsp_from_the_trap_frame():
    # win64-unwind.exe 0x101c: ALLOC_LARGE 8454128, ALLOC_LARGE 65520, PUSH_MACHFRAME (OpInfo 1)
    image = Image("llvm/tools/llvm-objdump/COFF/Inputs/win64-unwind.exe.coff-x86_64.exe")
    mem = emu.Memory()
    rsp = 0x10_0000_0000
    trap = rsp + 8454128 + 65520
    # error code, RIP, CS, EFLAGS, RSP, SS: the frame the CPU pushes on an exception.
    words = [0xE, 0x7FF6_AAAA_0010, 0x33, 0x246, 0x2_0000_0008, 0x2B]
    mem.write(trap, b"".join(w.to_bytes(8, "little") for w in words))
    regs = {"rip": image.base + 0x102A, "rsp": rsp, "rbx": 1}   # past the prolog
    result = virtual_unwind(image.unwind, image.base, regs, mem.read, image.read_code)
    assert result.rule is UnwindRule.MACHINE_FRAME
    assert (result.rip, result.rsp) == (0x7FF6_AAAA_0010, 0x2_0000_0008)


def test_function_without_pdata_entry_is_a_leaf():
    mem = emu.Memory()
    mem.write(0x1000, RET.to_bytes(8, "little"))
    result = unwind_leaf({"rip": 5, "rsp": 0x1000, "rbx": 7}, mem.read)
    assert (result.rip, result.rsp, result.registers["rbx"], result.rule) == (
        RET, 0x1008, 7, UnwindRule.LEAF)


def test_unreadable_saved_register_is_a_problem_not_a_guess():
    image = Image("breakpad/dump_syms/dump_syms_regtest64.exe")
    for entry, info in _plain_functions(image):
        if info.ops[-1].op == "UWOP_PUSH_NONVOL" and entry.end - entry.begin > 64:
            break
    # Only the return address is readable: the pushed register's slot is not.
    mem = emu.Memory()
    rsp = 0x5000
    frame_size = sum(8 if op.op == "UWOP_PUSH_NONVOL" else op.value for op in info.ops
                     if op.op in ("UWOP_PUSH_NONVOL", "UWOP_ALLOC_SMALL", "UWOP_ALLOC_LARGE"))
    mem.write(rsp + frame_size, RET.to_bytes(8, "little"))
    regs = {"rip": image.base + entry.begin + info.size_of_prolog + 1, "rsp": rsp,
            info.ops[-1].register: 0x99}
    if parse_epilog(image.read_code(regs["rip"], 16), regs["rip"] - image.base, entry, info):
        pytest.skip("picked an epilog")
    result = virtual_unwind(image.unwind, image.base, regs, mem.read, image.read_code)
    assert result.rip == RET
    assert info.ops[-1].register not in result.registers
    assert "unreadable_saved_register" in {p.code for p in result.problems}
