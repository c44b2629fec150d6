"""The symbol path reads WinDbg's _NT_SYMBOL_PATH syntax into ordered store elements."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from toolkit.symbols import cache
from toolkit.symbols.symbol_path import HttpServer, LocalStore, SymbolPath

MS = "https://msdl.microsoft.com/download/symbols"
DEFAULT = Path("/default/cache")


def parse(text: str) -> tuple:
    return SymbolPath.parse(text, default_cache=DEFAULT).elements


def test_srv_with_cache_and_url_is_one_http_server():
    assert parse(f"srv*/tmp/sym*{MS}") == (HttpServer(MS, Path("/tmp/sym")),)


def test_srv_without_cache_downloads_into_the_default_cache():
    assert parse(f"srv*{MS}") == (HttpServer(MS, DEFAULT),)


def test_chained_caches_download_into_the_first_and_search_all():
    (server,) = parse(f"srv*/c1*/c2*{MS}")
    assert server.cache == Path("/c1")
    assert server.caches == (Path("/c1"), Path("/c2"))


def test_symsrv_dll_spelling_is_read_as_srv():
    assert parse(f"symsrv*symsrv.dll*/c*{MS}") == (HttpServer(MS, Path("/c")),)


def test_cache_element_is_searched_and_caches_the_servers_after_it():
    assert parse(f"cache*/mycache;srv*{MS}") == (LocalStore(Path("/mycache")),
                                                 HttpServer(MS, Path("/mycache")))


def test_cache_element_does_not_override_a_servers_own_cache():
    assert parse(f"cache*/mycache;srv*/own*{MS}")[1] == HttpServer(MS, Path("/own"))


def test_plain_directories_are_local_stores_in_order():
    assert parse("/a;/b") == (LocalStore(Path("/a")), LocalStore(Path("/b")))


def test_empty_elements_and_whitespace_are_ignored():
    assert parse(" ;;/a; ;") == (LocalStore(Path("/a")),)


def test_srv_whose_upstream_is_a_directory_searches_cache_then_directory():
    assert parse("srv*/c*/share/syms") == (LocalStore(Path("/c")), LocalStore(Path("/share/syms")))


def test_unknown_star_syntax_is_reported_in_ignored_not_raised():
    sp = SymbolPath.parse("foo*bar;/a", default_cache=DEFAULT)
    assert sp.elements == (LocalStore(Path("/a")),)
    assert sp.ignored == ("foo*bar",)


def test_windows_spelling_parses_with_backslash_cache():
    (server,) = parse(f"SRV*C:\\symbols*{MS}")
    assert server.url == MS and str(server.cache) == "C:\\symbols"


def test_option_wins_over_environment(monkeypatch):
    monkeypatch.setenv("_NT_SYMBOL_PATH", "/from/env")
    assert SymbolPath.from_env_or("/from/option", DEFAULT).elements == (LocalStore(Path("/from/option")),)


def test_environment_is_used_without_option(monkeypatch):
    monkeypatch.setenv("_NT_SYMBOL_PATH", "/from/env")
    assert SymbolPath.from_env_or(None, DEFAULT).elements == (LocalStore(Path("/from/env")),)


def test_nothing_given_is_an_empty_path(monkeypatch):
    monkeypatch.delenv("_NT_SYMBOL_PATH", raising=False)
    sp = SymbolPath.from_env_or(None, DEFAULT)
    assert not sp and sp.elements == ()


def test_default_cache_honours_dumpkit_symbol_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("DUMPKIT_SYMBOL_CACHE", str(tmp_path / "c"))
    assert cache.default_cache_dir() == tmp_path / "c"


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="XDG rule is for Linux and BSDs")
def test_default_cache_follows_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.delenv("DUMPKIT_SYMBOL_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache.default_cache_dir() == tmp_path / "dumpkit" / "symbols"


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="XDG rule is for Linux and BSDs")
def test_default_cache_without_xdg_is_under_home_dot_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("DUMPKIT_SYMBOL_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache.default_cache_dir() == tmp_path / ".cache" / "dumpkit" / "symbols"


def test_parse_without_default_cache_uses_the_per_user_one(monkeypatch, tmp_path):
    monkeypatch.setenv("DUMPKIT_SYMBOL_CACHE", str(tmp_path))
    assert SymbolPath.parse(f"srv*{MS}").elements == (HttpServer(MS, tmp_path),)
