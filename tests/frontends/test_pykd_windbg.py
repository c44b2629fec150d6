"""The in-debugger entry: output through dprintln (DML with links inside WinDbg), symbols from
the engine first, routing from ``python -m toolkit`` when pykd runs inside a debugger."""

from __future__ import annotations

import re
import runpy
import sys

import pytest

from pykd_support import load_standin, run_in_debugger
from tests.conftest import corpus_path
from toolkit.windbg import EngineFirstSymbolizer, dml_line

MINIDUMP2 = "breakpad/processor/minidump2.dmp"


def test_text_output_goes_through_dprintln_as_dml_inside_windbg() -> None:
    pykd = load_standin()
    pykd._standin_open(str(corpus_path(MINIDUMP2)))
    code, _, calls = run_in_debugger(pykd, ["info"])
    assert code == 0
    assert calls and all(dml for _, dml in calls)
    assert any("<link cmd=\"lmvm test_app\">" in text for text, _ in calls)


def test_json_output_is_plain_text_even_inside_windbg() -> None:
    pykd = load_standin()
    pykd._standin_open(str(corpus_path(MINIDUMP2)))
    _, out, calls = run_in_debugger(pykd, ["info", "--json"])
    assert not any(dml for _, dml in calls)
    assert out.lstrip().startswith("{")


def test_outside_windbg_output_has_no_dml() -> None:
    pykd = load_standin()
    pykd._standin_open(str(corpus_path(MINIDUMP2)), windbg_ext=False)
    _, _, calls = run_in_debugger(pykd, ["info"])
    assert calls and not any(dml for _, dml in calls)


def test_dml_escapes_markup_characters() -> None:
    assert dml_line("a < b & c") == "a &lt; b &amp; c"


def test_dml_links_stack_frame_numbers_to_dot_frame() -> None:
    line = "0a 0012f3a0 7c8123ab kernel32!Foo+0x1c"
    assert dml_line(line).startswith('<link cmd=".frame 0n10">0a</link> 0012f3a0')


def test_dml_links_thread_ids_to_thread_switch() -> None:
    assert '<link cmd="~~[0xf14]s">f14</link>' in dml_line("  0  Id: f10.f14 Teb: 7ffde000")


def test_engine_symbol_wins_over_the_project_resolver() -> None:
    class FakeTarget:
        pointer_size = 4

        def engine_symbol(self, address):
            return ("ntdll", "RtlUserThreadStart", 0x21)

        def module_at(self, address):
            return None
    sym = EngineFirstSymbolizer(FakeTarget(), lambda a: "resolver!wrong")
    assert sym(0x77001021) == "ntdll!RtlUserThreadStart+0x21"


def test_project_resolver_answers_when_the_engine_has_no_symbol() -> None:
    pykd = load_standin()
    pykd._standin_open(str(corpus_path(MINIDUMP2)))
    from toolkit.targets.pykd.target import PykdTarget
    target = PykdTarget(pykd)
    module = target.modules()[0]
    assert EngineFirstSymbolizer(target, lambda a: "test_app!main+0x4")(module.base + 4) \
        == "test_app!main+0x4"
    assert EngineFirstSymbolizer(target, lambda a: None)(module.base + 4) == "test_app+0x4"


def test_lmi_codeview_record_is_parsed() -> None:
    from toolkit.targets.pykd.target import parse_lmi_codeview
    text = ("Debug Data Dirs: Type  Size     VA  Pointer\n"
            "             CODEVIEW    22, 1613f8,  1613f8 RSDS - GUID: "
            "{5A9832E5-2872-41C1-838E-D98914E9B7FF}\n"
            "               Age: 2, Pdb: ntdll.pdb\n")
    debug_id, pdb = parse_lmi_codeview(text)
    assert str(debug_id) == "5A9832E5287241C1838ED98914E9B7FF2"
    assert pdb == "ntdll.pdb"


def test_python_dash_m_toolkit_routes_to_the_debugger_inside_pykd(monkeypatch) -> None:
    pykd = load_standin()
    pykd._standin_open(str(corpus_path(MINIDUMP2)))
    monkeypatch.setitem(sys.modules, "pykd", pykd)
    monkeypatch.setattr(sys, "argv", ["toolkit", "info", "--json"])
    runpy.run_module("toolkit", run_name="__main__")
    out = "\n".join(text for text, _ in pykd._standin_output())
    assert re.search(r'"command": "info"', out)


def test_python_dash_m_toolkit_without_pykd_is_the_plain_cli(monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "pykd", None)      # import pykd -> ImportError
    monkeypatch.setattr(sys, "argv", ["toolkit", "--version"])
    with pytest.raises(SystemExit):
        runpy.run_module("toolkit", run_name="__main__")
    assert "dumpkit" in capsys.readouterr().out
