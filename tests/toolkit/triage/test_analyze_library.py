"""The library contract of toolkit.triage.analyze (what ``dumpkit triage`` builds on)."""

from __future__ import annotations

import json
import lzma
import pickle

import pytest

from conftest import SAMPLES
from parsers.minidump import MINIDUMP_HEADER
from tests.conftest import corpus_path
from toolkit.model.errors import InputError
from toolkit.triage.analyze import Analysis, analyze_file

CRASH = SAMPLES / "dumps" / "crash_x64-normal.dmp"
SYMBOLS = str(SAMPLES / "bin")


def test_contract_fields_of_a_crash():
    a = analyze_file(str(CRASH), symbol_path=SYMBOLS)
    assert isinstance(a, Analysis)
    assert (a.os, a.arch) == ("Windows 6.1.7601", "amd64")
    assert (a.exception_code, a.exception_name) == (0xC0000005, "EXCEPTION_ACCESS_VIOLATION")
    assert a.bucket == "NULL_CLASS_PTR_READ_c0000005_crash_x64.exe!crash_read"
    assert a.socorro_signature == "crash_read" and a.crashing_module == "crash_x64.exe"


def test_dump_timestamp_is_the_header_time_date_stamp():
    header = MINIDUMP_HEADER.parse(CRASH.read_bytes()[:MINIDUMP_HEADER.sizeof()])
    assert analyze_file(str(CRASH)).dump_timestamp == header.TimeDateStamp


def test_crashing_module_version_comes_from_the_module_list():
    a = analyze_file(str(corpus_path("wine/dumps/deadlock-i686-nocrt-winedbg.dmp")))
    assert (a.crashing_module, a.crashing_module_version) == ("ntdll.dll", "6.1.7601.24059")


def test_to_json_is_plain_json_with_schema_version():
    doc = analyze_file(str(CRASH)).to_json()
    assert doc["schema_version"] == 1
    assert json.loads(json.dumps(doc)) == doc


def test_analysis_survives_pickling_for_worker_processes():
    a = analyze_file(str(CRASH), symbol_path=SYMBOLS)
    b = pickle.loads(pickle.dumps(a))
    assert b.to_json() == a.to_json()


def test_compressed_file_is_analyzed_like_the_plain_one(tmp_path):
    packed = tmp_path / "crash.dmp.xz"
    packed.write_bytes(lzma.compress(CRASH.read_bytes()))
    a, b = analyze_file(str(packed)), analyze_file(str(CRASH))
    assert (a.bucket, a.socorro_signature, a.dump_timestamp) == \
        (b.bucket, b.socorro_signature, b.dump_timestamp)


def test_bad_input_raises_an_input_error(tmp_path):
    junk = tmp_path / "junk.dmp"
    junk.write_bytes(b"MDMP" + bytes(10))
    with pytest.raises(InputError):
        analyze_file(str(junk))


def test_unknown_policy_is_an_input_error():
    with pytest.raises(InputError, match="unknown SEH policy"):
        analyze_file(str(SAMPLES / "dumps" / "seh_x86-normal.dmp"), policy="xp")


def test_one_resolver_serves_many_dumps():
    from toolkit.symbols.resolver import Resolver
    resolver = Resolver.from_symbol_path(SYMBOLS)
    a = analyze_file(str(CRASH), resolver=resolver)
    b = analyze_file(str(SAMPLES / "dumps" / "crash_x64-full-trim-cv.dmp"), resolver=resolver)
    assert a.bucket == b.bucket == "NULL_CLASS_PTR_READ_c0000005_crash_x64.exe!crash_read"
    assert len({s.module.name for s in resolver.loaded()} & {"crash_x64.exe"}) == 1


def test_walking_only_the_crashing_thread_keeps_the_identity():
    dump = str(corpus_path("breakpad/processor/thread_name_list.dmp"))
    full = analyze_file(dump, walk_all_threads=True)
    quick = analyze_file(dump, walk_all_threads=False)
    assert (quick.bucket, quick.socorro_signature, quick.to_json()["crashing_thread"]) == \
        (full.bucket, full.socorro_signature, full.to_json()["crashing_thread"])
    walked = [t["frame_count"] for t in quick.stackwalk["threads"]]
    assert sum(1 for n in walked if n) == 1 < sum(1 for t in full.stackwalk["threads"]
                                                  if t["frame_count"])
