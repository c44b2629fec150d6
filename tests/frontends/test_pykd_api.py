"""The pykd back end calls only documented pykd 0.3 API (pykd/pymod.cpp, version 0.3.4.15).

Every ``pykd.<name>`` (or ``self.pykd.<name>`` / ``p.<name>`` where ``p = self.pykd``) used by
toolkit/targets/pykd/target.py and toolkit/windbg.py must be in DOCUMENTED below, so the back end cannot
drift to calls that exist only in the stand-in or in some other pykd build.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Set

import pytest

REPO = Path(__file__).resolve().parents[2]
BACKEND_FILES = ["toolkit/targets/pykd/target.py", "toolkit/windbg.py"]

# Module-level names registered in pykd 0.3.4.15's pymod.cpp (python::def / class_ / enum_),
# as listed in docs/PYKD_API.md; kept here so a new call has to be looked up and added by hand.
DOCUMENTED = {
    # engine
    "initialize", "deinitialize", "dbgCommand", "expr", "getLastException", "getLastEvent",
    "is64bitSystem", "isDumpAnalyzing", "isKernelDebugging", "isWindbgExt", "dprint", "dprintln",
    "loadDump", "closeDump", "startProcess", "attachProcess", "getSystemVersion", "ptrSize",
    "pageSize", "bugCheckData", "getExecutionStatus",
    # memory
    "loadBytes", "loadWords", "loadDWords", "loadQWords", "loadSignBytes", "loadSignWords",
    "loadSignDWords", "loadSignQWords", "loadPtrs", "loadChars", "loadWChars", "loadCStr",
    "loadWStr", "loadUnicodeString", "loadAnsiString", "ptrPtr", "ptrByte", "ptrWord",
    "ptrDWord", "ptrQWord", "ptrMWord", "ptrSignByte", "ptrSignWord", "ptrSignDWord",
    "ptrSignQWord", "ptrSignMWord", "loadPtrList", "isValid", "findMemoryRegion",
    "getVaProtect", "searchMemory", "compareMemory", "addr64",
    # registers
    "reg", "setReg", "getNumberRegisters", "getRegisterName", "getCPUMode", "setCPUMode",
    "getCPUType", "switchCPUMode", "getIP", "getSP", "getFP",
    # processes and threads
    "getProcessThreads", "getCurrentThread", "setCurrentThread", "getCurrentThreadId",
    "setCurrentThreadId", "getThreadSystemID", "getThreadOffset", "getThreadIdBySystemID",
    "getThreadIdByOffset", "getNumberThreads", "getCurrentProcess", "getCurrentProcessId",
    "getProcessSystemID", "getTargetProcesses", "getLocalProcesses", "getProcessExeName",
    # modules, stack, symbols, types
    "getModulesList", "module", "getStack", "getFrame", "setFrame", "resetFrame",
    "findSymbol", "findSymbolAndDisp", "getOffset", "getSourceLine", "getSymbolPath",
    "setSymbolPath", "appendSymbolPath", "setSymSrvDir", "typedVar", "typedVarList",
    "typedVarArray", "containingRecord", "sizeof",
    # classes, enums and exception types
    "CPUType", "eventType", "exceptionInfo", "debugEvent", "systemVersion", "stackFrame",
    "DbgException", "MemoryException",
}

# Names the back end reaches pykd through: the module itself and its aliases in the code.
PYKD_NAMES = {"pykd", "p"}


def pykd_attributes(source: str) -> Set[str]:
    """Attribute names read off ``pykd``, ``p`` or ``<anything>.pykd`` in a module's source."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Attribute):
            continue
        base = node.value
        if (isinstance(base, ast.Name) and base.id in PYKD_NAMES) or \
                (isinstance(base, ast.Attribute) and base.attr == "pykd"):
            found.add(node.attr)
    return found


@pytest.mark.parametrize("relative", BACKEND_FILES)
def test_backend_uses_only_documented_pykd_names(relative: str) -> None:
    used = pykd_attributes((REPO / relative).read_text(encoding="utf-8"))
    assert used, f"{relative}: no pykd use found (the AST walk is looking at the wrong names)"
    assert sorted(used - DOCUMENTED) == []


def test_walker_sees_aliases_and_attribute_chains() -> None:
    used = pykd_attributes("def f(self):\n p = self.pykd\n p.reg('eip')\n self.pykd.loadBytes(0, 1)\n"
                           "import pykd\npykd.notAThing()\n")
    assert used == {"reg", "loadBytes", "notAThing"}


def test_standin_implements_every_name_the_backend_uses() -> None:
    from pykd_support import load_standin
    standin = load_standin()
    used = set()
    for relative in BACKEND_FILES:
        used |= pykd_attributes((REPO / relative).read_text(encoding="utf-8"))
    assert sorted(n for n in used if not hasattr(standin, n)) == []


def test_standin_says_it_is_a_standin() -> None:
    from pykd_support import load_standin
    assert "STAND-IN" in (load_standin().__doc__ or "")
