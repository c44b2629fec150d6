"""The shipped samples read back as their builder recorded them (samples/EXPECTED.json).

EXPECTED.json was written by samples/tools/check_samples.py from the programs' own reports
and an independent struct walk, not by dumpkit, so these tests check dumpkit against it.
"""

from __future__ import annotations

import json

import pytest

from conftest import SAMPLES
from toolkit.model.debug_id import DebugId
from toolkit.targets.open import open_target
from toolkit.targets.pe.image import PeImage

EXPECTED = json.loads((SAMPLES / "EXPECTED.json").read_text(encoding="utf-8"))
DUMPS = sorted(EXPECTED["dumps"])


def _int(text: str) -> int:
    return int(text, 16)


@pytest.fixture(params=DUMPS)
def sample(request):
    facts = EXPECTED["dumps"][request.param]
    return open_target(str(SAMPLES / request.param)), facts


def test_arch_pid_and_threads_match(sample):
    target, facts = sample
    assert target.arch.value == facts["arch"]
    assert target.process_id == facts["pid"]
    assert [t.tid for t in target.threads()] == facts["thread_ids"]


def test_modules_match(sample):
    target, facts = sample
    got = {(m.path, m.base, m.size) for m in target.modules()}
    want = {(m["name"], _int(m["base"]), _int(m["size"])) for m in facts["modules"]}
    assert got == want


def test_exception_matches(sample):
    target, facts = sample
    ex = target.exception()
    if facts.get("exception") is None:
        assert ex is None
        return
    want = facts["exception"]
    assert (ex.thread_id, ex.code, ex.address) == (want["thread_id"], _int(want["code"]),
                                                   _int(want["address"]))
    assert ex.name == want["name"]
    assert list(ex.parameters) == [_int(p) for p in want["parameters"]]


def test_exe_debug_id_comes_from_cv_record_or_image(sample):
    target, facts = sample
    exe = next(m for m in target.modules() if m.name.endswith(".exe"))
    cv = facts["modules"][0]["cv_record"] or facts["memory"].get("exe_codeview_from_image")
    if cv is None:
        assert exe.debug_id is None
        return
    want = DebugId.parse(cv["guid"].replace("-", "") + f"{cv['age']:x}")
    assert exe.debug_id == want
    assert exe.pdb_name == cv["pdb"]


WITH_TEB = [d for d in DUMPS if EXPECTED["dumps"][d]["memory"].get("teb")]
WITH_MUTEX_HANDLES = [d for d in DUMPS if "handle_stream" in EXPECTED["dumps"][d]]


@pytest.mark.parametrize("name", WITH_TEB)
def test_teb_self_pointer_reads_back(name):
    target = open_target(str(SAMPLES / name))
    for thread in target.threads():
        self_ptr = target.read_pointer(thread.teb + (0x18 if target.pointer_size == 4 else 0x30))
        assert self_ptr == thread.teb


@pytest.mark.parametrize("name", WITH_MUTEX_HANDLES)
def test_mutant_owners_come_from_the_handle_stream(name):
    target, facts = open_target(str(SAMPLES / name)), EXPECTED["dumps"][name]
    owners = {}
    for h in target.handles():
        info = h.info("MiniMutantInformation2")
        owners[h.object_name] = (h.handle, info.fields["OwnerProcessId"], info.fields["OwnerThreadId"])
    assert owners == {m["object_name"]: (_int(m["handle"]), m["owner_pid"], m["owner_tid"])
                      for m in facts["mutexes"]}


@pytest.mark.parametrize("program", sorted(EXPECTED["programs"]))
def test_shipped_exe_and_pdb_agree(program):
    facts = EXPECTED["programs"][program]
    image = PeImage.from_file(str(SAMPLES / facts["exe"]))
    cv = facts["codeview"]
    assert str(image.debug_id) == cv["guid"].replace("-", "") + f"{cv['age']:x}"
    from toolkit.symbols.verify import debug_ids_of
    assert image.debug_id in debug_ids_of(SAMPLES / facts["pdb"])


def test_samples_stay_small():
    total = sum(p.stat().st_size for d in ("bin", "dumps") for p in (SAMPLES / d).iterdir())
    assert total < 2 * 1024 * 1024
