"""The postfix evaluator and Breakpad STACK tables on corpus .sym files and minidump2.dmp."""

from __future__ import annotations

import pytest

from tests.conftest import corpus_path
from toolkit.model.errors import UnreadableMemory
from toolkit.unwind.breakpad_stack import (
    BreakpadStackTable, evaluate_win, parse_stack_win, stack_win_from_pdb,
)
from toolkit.unwind.postfix import PostfixError, PostfixEvaluator, evaluate_cfi, parse_cfi_rules

TEST_APP_SYM = "breakpad/processor/symbols/test_app.pdb/5A9832E5287241C1838ED98914E9B7FF1/test_app.sym"
KERNEL32_SYM = "breakpad/processor/symbols/kernel32.pdb/BCE8785C57B44245A669896B6A19B9542/kernel32.sym"
X86_SYMS = [TEST_APP_SYM, KERNEL32_SYM, "symbolic/windows/crash.sym",
            "mozilla-dump_syms/windows/basic-opt32.sym", "breakpad/dump_syms/omap_reorder_bbs.sym"]


def words(mapping):
    """A memory reader over {address: 32-bit word}; anything else is unreadable."""
    def read(address, size):
        if address not in mapping:
            raise UnreadableMemory(address, size)
        return mapping[address].to_bytes(4, "little")[:size]
    return read


def synthetic(address, size):
    """Every address readable, holding a value derived from it (for robustness sweeps)."""
    return ((address * 2654435761) & 0xFFFFFFFF).to_bytes(4, "little")[:size]


def test_ebp_frame_program_recovers_return_address_saved_ebp_and_caller_esp():
    memory = words({0x1000: 0x2000, 0x1004: 0x401234})
    ev = PostfixEvaluator({"$ebp": 0x1000, "$esp": 0xF00}, memory)
    out = ev.evaluate("$T0 $ebp = $eip $T0 4 + ^ = $ebp $T0 ^ = $esp $T0 8 + =")
    assert (out["$eip"], out["$ebp"], out["$esp"]) == (0x401234, 0x2000, 0x1008)


def test_assignment_glued_to_the_next_token_is_split_like_breakpad():
    ev = PostfixEvaluator({"$ebp": 0x1000}, words({0x1084: 7}))
    assert ev.evaluate("$T0 $ebp 128 + =$eip $T0 4 + ^ =")["$eip"] == 7


def test_align_operator_rounds_down_to_a_power_of_two():
    ev = PostfixEvaluator({"$esp": 0x1237}, None)
    assert ev.evaluate("$T0 $esp 16 @ =")["$T0"] == 0x1230


@pytest.mark.parametrize("program", [
    "$eip $nosuch =",            # unknown identifier: no default value
    "$eip 4 0 / =",              # division by zero
    "4 5 =",                     # assignment to a literal
    ".x 5 =",                    # assignment to a non-$ name
    "$eip 4 +",                  # underflow
    "$eip 4 = 5",                # leftover value
])
def test_malformed_programs_raise_postfix_error(program):
    with pytest.raises(PostfixError):
        PostfixEvaluator({"$esp": 0}, None).evaluate(program)


def test_unreadable_dereference_is_an_evaluation_error():
    with pytest.raises(PostfixError, match="dereference"):
        PostfixEvaluator({"$esp": 0x10}, words({})).evaluate("$eip $esp ^ =")


def test_arithmetic_wraps_at_32_bits_like_breakpads_uint32():
    ev = PostfixEvaluator({"$esp": 4}, None)
    assert ev.evaluate("$T0 $esp 8 - = $T1 -1 1 + =") == {"$T0": 0xFFFFFFFC, "$T1": 0}


def test_cfi_rules_split_on_register_names():
    assert parse_cfi_rules(".cfa: $rsp 80 + .ra: .cfa 8 - ^ $rbx: .cfa 24 - ^") == {
        ".cfa": "$rsp 80 +", ".ra": ".cfa 8 - ^", "$rbx": ".cfa 24 - ^"}


def test_cfi_table_applies_deltas_up_to_the_address_x64_regtest():
    # dump_syms_regtest64.sym: INIT 1010 .cfa: $rsp .ra: .cfa 8 - ^ ; delta at 1010: $rsp 80 +
    table = BreakpadStackTable.from_file(corpus_path("breakpad/dump_syms/dump_syms_regtest64.sym"))
    assert table.cfi_count == 195
    rules = table.cfi_rules(0x1011)
    assert rules == {".cfa": "$rsp 80 +", ".ra": ".cfa 8 - ^"}
    read = lambda a, n: (0x140001234 if a == 0x5000 + 80 - 8 else 0).to_bytes(8, "little")[:n]
    out, failed = evaluate_cfi(rules, {"rsp": 0x5000}, read, pointer_size=8)
    assert (out[".cfa"], out[".ra"], failed) == (0x5050, 0x140001234, [])


def test_stack_win_line_fields_and_program_string():
    r = parse_stack_win("STACK WIN 4 1000 114 11 0 8 0 0 0 1 $T0 .raSearch = $eip $T0 ^ = "
                        "$esp $T0 4 + =")
    assert (r.type, r.rva, r.code_size, r.prolog_size, r.parameter_size) == (4, 0x1000, 0x114, 0x11, 8)
    assert r.program_string == "$T0 .raSearch = $eip $T0 ^ = $esp $T0 4 + ="


def test_fpo_record_without_program_gets_breakpads_synthesized_esp_program():
    r = parse_stack_win("STACK WIN 0 17826 35 0 0 4 8 c 0 0 0")
    assert r.program_string is None and not r.allocates_base_pointer
    # return address above callee params (4) + locals (0xc) + saved regs (8)
    memory = words({0x1000 + 4 + 0xC + 8: 0x7C801234})
    ev = evaluate_win(r, {"esp": 0x1000, "ebp": 0x5555}, memory, callee_parameter_size=4)
    assert ev.registers["$eip"] == 0x7C801234
    assert ev.registers["$esp"] == 0x1000 + 4 + 0xC + 8 + 4
    assert ev.registers["$ebp"] == 0x5555 and not ev.recover_ebp


def test_fpo_record_that_allocates_ebp_reads_the_callers_ebp_from_saved_registers():
    r = parse_stack_win("STACK WIN 0 100 20 0 0 0 10 20 0 0 1")
    assert r.allocates_base_pointer
    memory = words({0x1000 + 0x10 + 0x20: 0x401000, 0x1000 + 0x10 - 8: 0x12FF00})
    ev = evaluate_win(r, {"esp": 0x1000, "ebp": 0}, memory)
    assert (ev.registers["$eip"], ev.registers["$ebp"]) == (0x401000, 0x12FF00)


@pytest.mark.parametrize("rel", X86_SYMS)
def test_every_corpus_stack_win_program_evaluates_and_sets_eip_and_esp(rel):
    table_text = corpus_path(rel).read_text(errors="replace")
    lines = [l for l in table_text.splitlines() if l.startswith("STACK WIN ")]
    assert lines
    for line in lines:
        record = parse_stack_win(line)
        ev = evaluate_win(record, {"esp": 0x12F000, "ebp": 0x12F100, "ebx": 1}, synthetic)
        assert {"$eip", "$esp"} <= set(ev.registers)


@pytest.mark.parametrize("rel", X86_SYMS)
def test_table_lookup_returns_the_innermost_record_preferring_frame_data(rel):
    table = BreakpadStackTable.from_file(corpus_path(rel))
    records = [parse_stack_win(l) for l in corpus_path(rel).read_text(errors="replace")
               .splitlines() if l.startswith("STACK WIN ")]
    assert table.win_count == len(records)
    for r in records[:: max(1, len(records) // 200)]:
        found = table.win_record(r.rva)
        assert found is not None and found.rva <= r.rva < found.end
        covering = [c for c in records if c.rva <= r.rva < c.end]
        best_type = 4 if any(c.type == 4 for c in covering) else 0
        assert found.type == best_type
        assert found.rva == max(c.rva for c in covering if c.type == best_type)


def test_minidump2_frames_follow_breakpads_stackwalk_through_stack_win():
    # breakpad/processor/minidump2.stackwalk.out: 0x0040429e/0x0012fe84/0x0012fe88 ->
    # main 0x00404200 esp 0x0012fe90 ebp 0x0012ff70 -> __tmainCRTStartup 0x004053ec esp
    # 0x0012ff78 ebp 0x0012ffc0 -> kernel32 BaseProcessStart 0x7c816fd7 esp 0x0012ffc8 ebp 0x0012fff0
    from toolkit.targets.open import open_target
    target = open_target(corpus_path("breakpad/processor/minidump2.dmp"))
    tables = {"test_app.exe": BreakpadStackTable.from_file(corpus_path(TEST_APP_SYM)),
              "kernel32.dll": BreakpadStackTable.from_file(corpus_path(KERNEL32_SYM))}
    regs = {k: target.exception().registers.values[k] for k in ("eip", "esp", "ebp", "ebx")}
    got, callee_params = [], 0
    for _ in range(3):
        module = target.module_at(regs["eip"])
        record = tables[module.name].win_record(regs["eip"] - module.base)
        ev = evaluate_win(record, regs, target.read, callee_parameter_size=callee_params)
        regs = {"eip": ev.registers["$eip"], "esp": ev.registers["$esp"],
                "ebp": ev.registers["$ebp"]}
        callee_params = record.parameter_size
        got.append((regs["eip"], regs["esp"], regs["ebp"]))
    assert got == [(0x00404200, 0x0012FE90, 0x0012FF70), (0x004053EC, 0x0012FF78, 0x0012FFC0),
                   (0x7C816FD7, 0x0012FFC8, 0x0012FFF0)]


def test_stack_win_from_pdb_matches_the_sym_file_dump_syms_wrote():
    pytest.importorskip("symbolic")
    from_pdb = stack_win_from_pdb(corpus_path("symbolic/windows/crash.pdb"))
    from_sym = BreakpadStackTable.from_file(corpus_path("symbolic/windows/crash.sym"))
    assert from_pdb.win_count > 0
    sym_lines = [parse_stack_win(l) for l in corpus_path("symbolic/windows/crash.sym")
                 .read_text().splitlines() if l.startswith("STACK WIN 4")]
    for r in sym_lines:
        found = from_pdb.win_record(r.rva)
        assert found is not None and found == from_sym.win_record(r.rva)
