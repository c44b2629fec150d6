"""The HTTP symbol-server client against a real server on 127.0.0.1 serving corpus files."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from conftest import corpus_path
from symserver import SymServer, store_file
from toolkit.model.debug_id import DebugId
from toolkit.symbols.http_store import DEFAULT_DEADLINE, ENV_DEADLINE, default_deadline
from toolkit.symbols.locator import SymbolLocator
from toolkit.symbols.symbol_path import SymbolPath


def module_line_id(sym: Path) -> DebugId:
    return DebugId.parse(sym.read_text(errors="replace").split("\n", 1)[0].split()[3])


@pytest.fixture
def crash():
    return (corpus_path("symbolic/windows/crash.pdb"),
            module_line_id(corpus_path("symbolic/windows/crash.sym")))


@pytest.fixture
def server(tmp_path):
    with SymServer(tmp_path / "server") as srv:
        yield srv


def locator(server: SymServer, cache: Path, **kw) -> SymbolLocator:
    kw.setdefault("http_timeout", 5.0)
    kw.setdefault("backoff", 0.01)
    return SymbolLocator(SymbolPath.parse(f"srv*{cache}*{server.url}"), **kw)


def files_under(root: Path) -> list:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def pdb_url(did: DebugId, name: str = "crash.pdb") -> str:
    return f"{name}/{did.breakpad}/{name}"


def test_pdb_is_downloaded_verified_and_cached(server, tmp_path, crash):
    pdb, did = crash
    store_file(server.root, "crash.pdb", did.breakpad, pdb)
    found = locator(server, tmp_path / "cache").find_debug_file("crash.pdb", did)
    assert found.verified and found.kind == "pdb"
    assert found.path == tmp_path / "cache" / pdb_url(did)
    assert found.path.read_bytes() == pdb.read_bytes()
    assert server.user_agents == ["dumpkit/0.1.0"]


def test_cached_file_is_used_without_asking_the_server(server, tmp_path, crash):
    pdb, did = crash
    store_file(server.root, "crash.pdb", did.breakpad, pdb)
    locator(server, tmp_path / "cache").find_debug_file("crash.pdb", did)
    again = locator(server, tmp_path / "cache").find_debug_file("crash.pdb", did)
    assert again.verified and server.count() == 1


def test_compressed_pd_on_the_server_is_expanded(server, tmp_path):
    sym = corpus_path("mozilla-dump_syms/windows/basic32.sym")
    did = module_line_id(sym)
    store_file(server.root, "basic32.pdb", did.breakpad,
               corpus_path("mozilla-dump_syms/windows/basic32.pd_"), "basic32.pd_")
    found = locator(server, tmp_path / "cache").find_debug_file("basic32.pdb", did, ("pdb",))
    assert found.verified
    assert files_under(tmp_path / "cache") == [pdb_url(did, "basic32.pdb")]
    assert server.requests[pdb_url(did, "basic32.pdb")] == 1  # the plain form was tried first


def test_breakpad_sym_is_downloaded_when_no_pdb_exists(server, tmp_path):
    sym = corpus_path("breakpad/processor/symbols/kernel32.pdb/"
                      "BCE8785C57B44245A669896B6A19B9542/kernel32.sym")
    did = module_line_id(sym)
    store_file(server.root, "kernel32.pdb", did.breakpad, sym, "kernel32.sym")
    found = locator(server, tmp_path / "cache").find_debug_file("kernel32.pdb", did)
    assert found.kind == "sym" and found.path.name == "kernel32.sym" and found.verified


def test_binary_is_downloaded_by_code_id(server, tmp_path):
    exe = corpus_path("breakpad/dump_syms/dump_syms_regtest64.exe")
    code_id = "589DFD111a000"  # MANIFEST: TimeDateStamp 0x589dfd11, SizeOfImage 0x1a000
    store_file(server.root, "dump_syms_regtest64.exe", code_id, exe)
    found = locator(server, tmp_path / "cache").find_code_file("dump_syms_regtest64.exe", code_id)
    assert found.kind == "pe" and found.verified


def test_file_ptr_to_another_url_is_followed(server, tmp_path, crash):
    pdb, did = crash
    store_file(server.root, "elsewhere", "x", pdb, "crash.pdb")
    ptr = server.root / "crash.pdb" / did.breakpad / "file.ptr"
    ptr.parent.mkdir(parents=True)
    ptr.write_text(f"PATH:{server.url}/elsewhere/x/crash.pdb")
    found = locator(server, tmp_path / "cache").find_debug_file("crash.pdb", did, ("pdb",))
    assert found.verified and found.path == tmp_path / "cache" / pdb_url(did)


def test_file_ptr_naming_a_local_path_is_refused(server, tmp_path, crash):
    pdb, did = crash
    ptr = server.root / "crash.pdb" / did.breakpad / "file.ptr"
    ptr.parent.mkdir(parents=True)
    ptr.write_text(f"PATH:{pdb}")
    loc = locator(server, tmp_path / "cache")
    assert loc.find_debug_file("crash.pdb", did, ("pdb",)) is None
    assert [p.code for p in loc.problems] == ["file-ptr-ignored"]


# -- misses and the negative cache --------------------------------------------------------------

def test_repeated_miss_asks_the_server_once(server, tmp_path, crash):
    _, did = crash
    locator(server, tmp_path / "cache").find_debug_file("crash.pdb", did)
    first = server.count()
    assert first > 0
    assert locator(server, tmp_path / "cache").find_debug_file("crash.pdb", did) is None
    assert server.count() == first


def test_expired_miss_is_asked_again(server, tmp_path, crash):
    _, did = crash
    locator(server, tmp_path / "cache", miss_ttl=3600).find_debug_file("crash.pdb", did)
    first = server.count()
    (marker,) = (tmp_path / "cache").rglob(".miss-*")
    old = time.time() - 7200
    os.utime(marker, (old, old))
    locator(server, tmp_path / "cache", miss_ttl=3600).find_debug_file("crash.pdb", did)
    assert server.count() == 2 * first


def test_file_added_after_an_expired_miss_is_found(server, tmp_path, crash):
    pdb, did = crash
    locator(server, tmp_path / "cache").find_debug_file("crash.pdb", did)
    store_file(server.root, "crash.pdb", did.breakpad, pdb)
    for marker in (tmp_path / "cache").rglob(".miss-*"):
        os.utime(marker, (0, 0))
    assert locator(server, tmp_path / "cache").find_debug_file("crash.pdb", did).verified


def test_miss_is_remembered_per_server(tmp_path, crash):
    _, did = crash
    with SymServer(tmp_path / "s1") as one, SymServer(tmp_path / "s2") as two:
        cache = tmp_path / "cache"
        SymbolLocator(SymbolPath.parse(f"srv*{cache}*{one.url}")).find_debug_file("crash.pdb", did)
        SymbolLocator(SymbolPath.parse(f"srv*{cache}*{two.url}")).find_debug_file("crash.pdb", did)
        assert one.count() > 0 and two.count() == one.count()


# -- corrupt downloads --------------------------------------------------------------------------

def test_truncated_download_is_rejected_reported_and_not_cached(server, tmp_path, crash):
    pdb, did = crash
    store_file(server.root, "crash.pdb", did.breakpad, pdb)
    server.truncate[pdb_url(did)] = 100_000
    loc = locator(server, tmp_path / "cache")
    assert loc.find_debug_file("crash.pdb", did, ("pdb",)) is None
    assert "corrupt-download" in [p.code for p in loc.problems]
    assert files_under(tmp_path / "cache") == []


def test_pdb_with_wrong_guid_under_the_wanted_id_is_rejected_and_not_cached(server, tmp_path, crash):
    _, did = crash
    store_file(server.root, "crash.pdb", did.breakpad,
               corpus_path("symbolic/windows/CrashWithException.pdb"))
    loc = locator(server, tmp_path / "cache")
    assert loc.find_debug_file("crash.pdb", did, ("pdb",)) is None
    (problem,) = [p for p in loc.problems if p.code == "corrupt-download"]
    assert did.breakpad in problem.message
    assert files_under(tmp_path / "cache") == []  # not cached, and no miss marker either
    locator(server, tmp_path / "cache").find_debug_file("crash.pdb", did, ("pdb",))
    assert server.requests[pdb_url(did)] == 2  # a rejected file is asked for again next run


def test_wrong_file_is_rejected_even_with_allow_mismatch(server, tmp_path, crash):
    _, did = crash
    store_file(server.root, "crash.pdb", did.breakpad,
               corpus_path("symbolic/windows/CrashWithException.pdb"))
    loc = locator(server, tmp_path / "cache")
    assert loc.find_debug_file("crash.pdb", did, ("pdb",), allow_mismatch=True) is None


# -- server trouble -----------------------------------------------------------------------------

def test_slow_server_is_reported_as_a_timeout_and_not_asked_again(server, tmp_path, crash):
    pdb, did = crash
    store_file(server.root, "crash.pdb", did.breakpad, pdb)
    server.delay_all = 1.0
    loc = locator(server, tmp_path / "cache", http_timeout=0.3)
    assert loc.find_debug_file("crash.pdb", did) is None
    assert loc.find_debug_file("other.pdb", did) is None
    assert [p.code for p in loc.problems] == ["symbol-server-timeout"]
    assert server.count() == 1
    assert files_under(tmp_path / "cache") == []  # a timeout is not a miss


def test_a_server_trickling_bytes_is_cut_off_at_the_request_deadline(server, tmp_path, crash):
    pdb, did = crash
    store_file(server.root, "crash.pdb", did.breakpad, pdb)
    server.trickle[pdb_url(did)] = 0.2           # well inside the per-read timeout, forever
    loc = locator(server, tmp_path / "cache", http_timeout=5.0, http_deadline=1.5)
    result: list = []
    walker = threading.Thread(target=lambda: result.append(loc.find_debug_file("crash.pdb", did)))
    walker.start()
    walker.join(120)                             # a bound for a hang, not a speed check
    assert not walker.is_alive(), "the download was not stopped at its deadline"
    assert result == [None]
    assert [p.code for p in loc.problems] == ["symbol-server-timeout"]
    assert "1.5 s deadline" in loc.problems[0].message
    assert files_under(tmp_path / "cache") == []  # no temp file left, and no miss recorded


def test_the_request_deadline_defaults_and_reads_the_environment(monkeypatch):
    monkeypatch.delenv(ENV_DEADLINE, raising=False)
    assert default_deadline() == DEFAULT_DEADLINE == 600.0
    monkeypatch.setenv(ENV_DEADLINE, "42")
    assert default_deadline() == 42.0
    monkeypatch.setenv(ENV_DEADLINE, "soon")
    assert default_deadline() == DEFAULT_DEADLINE


def test_5xx_answers_are_retried_until_success(server, tmp_path, crash):
    pdb, did = crash
    store_file(server.root, "crash.pdb", did.breakpad, pdb)
    server.fail_first[pdb_url(did)] = 2
    loc = locator(server, tmp_path / "cache", retries=2)
    assert loc.find_debug_file("crash.pdb", did).verified
    assert server.requests[pdb_url(did)] == 3 and loc.problems == []


def test_5xx_beyond_the_retry_budget_is_reported_and_not_cached_as_a_miss(server, tmp_path, crash):
    pdb, did = crash
    store_file(server.root, "crash.pdb", did.breakpad, pdb)
    server.fail_first[pdb_url(did)] = 5
    loc = locator(server, tmp_path / "cache", retries=1)
    assert loc.find_debug_file("crash.pdb", did, ("pdb",)) is None
    assert "symbol-server-error" in [p.code for p in loc.problems]
    assert server.requests[pdb_url(did)] == 2
    assert list((tmp_path / "cache").rglob(".miss-*")) == []


def test_unreachable_server_is_reported_once(tmp_path, crash):
    _, did = crash
    with SymServer(tmp_path / "gone") as srv:
        url = srv.url  # a port that is closed once the server stops
    loc = SymbolLocator(SymbolPath.parse(f"srv*{tmp_path / 'cache'}*{url}"), retries=1,
                        backoff=0.01)
    assert loc.find_debug_file("crash.pdb", did) is None
    assert loc.find_debug_file("other.pdb", did) is None
    assert [p.code for p in loc.problems] == ["symbol-server-unreachable"]


def test_download_over_the_size_cap_is_refused(server, tmp_path, crash):
    pdb, did = crash
    store_file(server.root, "crash.pdb", did.breakpad, pdb)
    loc = locator(server, tmp_path / "cache", max_download_bytes=64 * 1024)
    assert loc.find_debug_file("crash.pdb", did, ("pdb",)) is None
    assert "download-too-large" in [p.code for p in loc.problems]
    assert files_under(tmp_path / "cache") == []


# -- hostile names ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["..\\..\\..\\crash.pdb", "../../../crash.pdb",
                                  "/tmp/../../crash.pdb", "C:\\x\\..\\crash.pdb"])
def test_traversal_names_download_only_inside_the_cache(server, tmp_path, crash, name):
    pdb, did = crash
    store_file(server.root, "crash.pdb", did.breakpad, pdb)
    before = set(p for p in tmp_path.rglob("*") if "cache" not in p.parts)
    found = locator(server, tmp_path / "cache").find_debug_file(name, did)
    assert found.path == tmp_path / "cache" / pdb_url(did)
    after = set(p for p in tmp_path.rglob("*") if "cache" not in p.parts)
    assert after == before


@pytest.mark.parametrize("name", ["..", "CON", "x\x00.pdb", "C:crash.pdb", "\\\\srv\\share\\"])
def test_unsafe_names_are_refused_without_asking_the_server(server, tmp_path, crash, name):
    _, did = crash
    loc = locator(server, tmp_path / "cache")
    assert loc.find_debug_file(name, did) is None
    assert [p.code for p in loc.problems] == ["unsafe-name"]
    assert server.count() == 0 and not (tmp_path / "cache").exists()


# -- many modules -------------------------------------------------------------------------------

def test_prefetch_downloads_several_modules_in_parallel(server, tmp_path):
    wanted = []
    for rel in ["symbolic/windows/crash.pdb", "lldb/unittests/SymbolFile/PDB/Inputs/test-pdb.pdb",
                "llvm/tools/llvm-symbolizer/pdb/Inputs/test-columns.pdb",
                "rizin-testbins/pdb/SimplePDB.pdb"]:
        pdb = corpus_path(rel)
        from toolkit.symbols.verify import debug_ids_of  # the id the server indexes it under
        (did,) = debug_ids_of(pdb)
        store_file(server.root, pdb.name, did.breakpad, pdb)
        wanted.append((pdb.name, did))
    server.delay_all = 0.2
    loc = locator(server, tmp_path / "cache", max_workers=4)
    loc.prefetch(wanted)
    per_module = server.count()
    assert per_module == len(wanted)
    assert server.max_in_flight > 1
    assert all(loc.find_debug_file(n, d).verified for n, d in wanted)
    assert server.count() == per_module  # answered from the prefetch, not asked again
