"""Broken chains built from the real Wine dump: each yields exactly its expected failing rules.

The scene starts from the real dump's thread, TEB, stack and module images (sehdump.py) and
patches records. The real chain is R0 (ntdll) > R1 seh_h3 > R2 _except_handler3 > R3 seh_h1 >
R4 (ntdll final handler).
"""

from __future__ import annotations

import pytest

from tests.toolkit.seh.sehdump import SehScene, find_gadget
from tests.toolkit.seh.wine_dump import wine_full_dump
from toolkit.targets.minidump.target import MinidumpTarget
from toolkit.targets.open import open_target
from toolkit.seh import exchain
from toolkit.seh.chain import find_nt_tib, walk_chain

NOT_LISTED_RVA = 0x1020          # write_null: code in the exe, not a registered handler


@pytest.fixture(scope="module")
def real():
    target = open_target(wine_full_dump())
    thread = target.threads()[0]
    tib, _ = find_nt_tib(target, thread)
    chain = walk_chain(target, tib.exception_list)
    exe = next(m for m in target.modules() if m.name.endswith(".exe"))
    k32 = next(m for m in target.modules() if m.name == "kernel32.dll")
    return dict(target=target, tib=tib, R=[r.address for r in chain.records],
                H=[r.handler for r in chain.records], exe=exe, k32=k32,
                gadget=find_gadget(target, k32))


def scene(real) -> SehScene:
    return SehScene.from_target(real["target"], extra=[real["gadget"]],
                                whole=[real["exe"].name])


def failing(s: SehScene, policy: str = "win10"):
    (chain,) = exchain(MinidumpTarget(s.build()), policy=policy).chains
    return set(chain.failing), chain


def test_unpatched_scene_has_no_failures(real):
    got, chain = failing(scene(real))
    assert got == set() and [r.address for r in chain.records] == real["R"]


def test_overwritten_record_short_jump_and_pop_pop_ret(real):
    s = scene(real)
    s.write(real["R"][1], b"\xeb\x06\x90\x90")            # Next: jmp short +6; nop; nop
    s.write32(real["R"][1] + 4, real["gadget"])             # Handler: pop/pop/ret in kernel32
    got, chain = failing(s)
    assert got == {"STACK_HIGH", "ALIGN", "SEHOP_WALK"}
    hit = chain.records[1]
    assert set(hit.observations) == {"next-short-jump", "handler-pop-pop-ret"}
    assert hit.unverifiable == ("NO_TABLE",)                # kernel32 has no SafeSEH table
    assert chain.records[2].address == 0x909006EB and chain.termination == "unreadable"


def test_handler_missing_from_the_safeseh_table(real):
    s = scene(real)
    s.write32(real["R"][3] + 4, real["exe"].base + NOT_LISTED_RVA)
    assert failing(s)[0] == {"SAFESEH_LISTED"}


def test_handler_on_the_stack(real):
    s = scene(real)
    s.write32(real["R"][3] + 4, real["tib"].stack_base - 0x1000)
    assert failing(s)[0] == {"HANDLER_NOT_ON_STACK", "SEHOP_WALK"}


def test_handler_on_the_stack_with_memory_info_also_fails_not_in_image(real):
    s = scene(real)
    s.write32(real["R"][3] + 4, real["tib"].stack_base - 0x1000)
    tib = real["tib"]
    s.memory_info = [(tib.stack_limit, tib.stack_base - tib.stack_limit, 0x1000, 0x04, 0x20000)]
    assert failing(s)[0] == {"HANDLER_NOT_ON_STACK", "NOT_IN_IMAGE", "SEHOP_WALK"}


def test_misaligned_record(real):
    s = scene(real)
    moved = real["R"][3] + 0xA
    s.record(moved, s.read32(real["R"][3]), s.read32(real["R"][3] + 4))
    s.write32(real["R"][2], moved)
    assert failing(s)[0] == {"ALIGN", "SEHOP_WALK"}
    assert failing(s, "vista")[0] == {"ALIGN"}


@pytest.mark.parametrize("policy, expected", [("2003", {"STACK_LOW"}), ("vista", set()),
                                              ("win10", set())])
def test_record_below_stack_limit_is_invalid_only_under_2003(real, policy, expected):
    s = scene(real)
    s.write32(s.teb + 8, (real["R"][0] & ~0xFFF) + 0x1000 - 0x600)   # StackLimit above R0
    assert real["R"][0] < s.read32(s.teb + 8) < real["R"][1]
    assert failing(s, policy)[0] == expected


def test_descending_order(real):
    s = scene(real)
    low = real["R"][1] - 0x80
    s.record(low, real["R"][3], real["H"][3])
    s.write32(real["R"][2], low)
    got, chain = failing(s)
    assert got == {"ASCENDING", "SEHOP_WALK"}
    assert chain.records[2].failing == ("ASCENDING",) and chain.termination == "end"
    assert failing(s, "vista")[0] == set()


def test_loop(real):
    s = scene(real)
    s.write32(real["R"][3], real["R"][1])
    got, chain = failing(s)
    assert got == {"ASCENDING", "SEHOP_WALK", "SEHOP_FINAL"}
    assert chain.termination == "loop" and len(chain.records) == 4


def test_chain_running_off_readable_memory(real):
    s = scene(real)
    s.write32(s.teb + 4, real["tib"].stack_base + 0x10000)           # StackBase further up
    s.write32(real["R"][3], real["tib"].stack_base + 0x8000)         # a Next the dump lacks
    got, chain = failing(s)
    assert got == set() and chain.termination == "unreadable"
    last = chain.records[-1]
    assert last.next is None and last.handler is None
    assert {v.rule: v.outcome.value for v in chain.chain_rules} == \
        {"SEHOP_FINAL": "unverifiable", "SEHOP_WALK": "unverifiable"}


def test_handler_in_a_no_seh_image(real):
    s = scene(real)
    k32 = real["k32"]
    e_lfanew = s.read32(k32.base + 0x3C)
    at = k32.base + e_lfanew + 0x18 + 0x46                           # OptionalHeader.DllCharacteristics
    chars = s.read32(at) & 0xFFFF
    s.write(at, (chars | 0x400).to_bytes(2, "little"))
    s.write32(real["R"][3] + 4, k32.base + 0x1000)
    assert failing(s)[0] == {"NO_SEH_IMAGE"}


def test_missing_sehop_final_handler(real):
    s = scene(real)
    s.write32(real["R"][4] + 4, real["H"][3])                        # seh_h1 as the last handler
    got, chain = failing(s)
    assert got == {"SEHOP_FINAL"}
    assert failing(s, "vista")[0] == set()
