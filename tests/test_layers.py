"""The layer rules of toolkit/, held against the code.

parsers -> model -> targets -> unwind and symbols -> analyses -> commands: a module may import its
own layer and the ones before it, never one after. Each package's ``__init__`` docstring states its
rule in its second line; this file is the one place that checks them, by walking every module's
imports with ``ast`` (function-level imports and ``importlib.import_module("...")`` literals too,
since the code imports lazily to keep start-up fast).
"""

from __future__ import annotations

import ast
import importlib.util
import sys
import sysconfig
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[1]

ANALYSES = ("stackwalk", "seh", "waitgraph", "triage")
FRONT_ENDS = ("commands", "toolkit.windbg", "toolkit.__main__")

# What each layer may import of the project's own packages. ``None``: anything.
ALLOWED = {
    "parsers": ("parsers", "toolkit.model.errors", "toolkit.model.debug_id"),
    "model": ("parsers", "toolkit.model"),
    "targets": ("parsers", "toolkit.model", "toolkit.targets"),
    "unwind": ("parsers", "toolkit.model", "toolkit.targets", "toolkit.unwind", "toolkit.symbols"),
    "symbols": ("parsers", "toolkit.model", "toolkit.targets", "toolkit.unwind", "toolkit.symbols",
                "toolkit.__version__"),
    "analysis": ("parsers", "toolkit.model", "toolkit.targets", "toolkit.unwind", "toolkit.symbols")
                + tuple(f"toolkit.{name}" for name in ANALYSES),
    "front end": None,
    "root": (),
}

# The one third-party package the model may use besides the standard library.
MODEL_THIRD_PARTY = ("numpy",)


def layer_of(module: str) -> Optional[str]:
    """The layer a dotted module name belongs to, or None for a loose module no rule covers."""
    parts = module.split(".")
    if parts[0] == "parsers":
        return "parsers"
    if parts[0] == "commands" or module in FRONT_ENDS:
        return "front end"
    if parts[0] != "toolkit":
        return None
    if len(parts) == 1:
        return "root"
    if parts[1] in ("model", "targets", "unwind", "symbols"):
        return parts[1]
    if parts[1] in ANALYSES:
        return "analysis"
    return None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(source: str, module: str) -> Iterator[Tuple[int, str]]:
    """Every (line, dotted name) the source imports, with ``from X import y`` as ``X.y``."""
    package = module if module.count(".") == 0 else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: max(0, package.count(".") + 2 - node.level)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}" if alias.name != "*" else base
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            yield node.lineno, node.args[0].value


def is_project(name: str) -> bool:
    return name.split(".")[0] in ("toolkit", "parsers", "commands")


def allowed(layer: str, name: str) -> bool:
    rule = ALLOWED[layer]
    if rule is None:
        return True
    return any(name == prefix or name.startswith(prefix + ".") for prefix in rule)


def is_standard_library(top: str) -> bool:
    if top in sys.builtin_module_names or top == "__future__":
        return True
    spec = importlib.util.find_spec(top)
    if spec is None or spec.origin in (None, "built-in", "frozen"):
        return spec is not None
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    origin = Path(spec.origin).resolve()
    return stdlib in origin.parents and "site-packages" not in origin.parts


def violations(source: str, module: str) -> List[str]:
    layer = layer_of(module)
    if layer is None:
        return [f"{module}: a loose module in no layer (put it in a package of its layer)"]
    found = []
    for line, name in imports_of(source, module):
        if is_project(name):
            if not allowed(layer, name):
                found.append(f"{module}:{line}: the {layer} layer imports {name}")
        elif layer == "model":
            top = name.split(".")[0]
            if top not in MODEL_THIRD_PARTY and not is_standard_library(top):
                found.append(f"{module}:{line}: the model imports third-party {name}")
    return found


def project_modules() -> List[Path]:
    return sorted(p for package in ("parsers", "toolkit", "commands")
                  for p in (ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", project_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_module_imports_only_what_its_layer_may(path):
    assert violations(path.read_text(encoding="utf-8"), module_name(path)) == []


def test_every_package_docstring_states_what_it_may_import():
    for init in sorted(p for package in ("parsers", "toolkit", "commands")
                       for p in (ROOT / package).rglob("__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        lines = doc.splitlines()
        assert len(lines) >= 2 and lines[1].startswith("May import:"), init


@pytest.mark.parametrize("source, module, expected", [
    ("from toolkit.stackwalk import walk_target\n", "toolkit.targets.minidump.target",
     "the targets layer imports toolkit.stackwalk.walk_target"),
    ("def f():\n    from commands.cli import cli\n", "toolkit.seh.rules",
     "the analysis layer imports commands.cli.cli"),
    ("import importlib\nimportlib.import_module('toolkit.symbols.resolver')\n", "toolkit.targets.open",
     "the targets layer imports toolkit.symbols.resolver"),
    ("from ..targets.pe import image\n", "toolkit.model.memory",
     "the model layer imports toolkit.targets.pe.image"),
    ("import pefile\n", "toolkit.model.target", "the model imports third-party pefile"),
    ("from toolkit.model.target import Module\n", "parsers.codeview",
     "the parsers layer imports toolkit.model.target.Module"),
    ("", "toolkit.helpers", "a loose module in no layer"),
])
def test_checker_flags_each_kind_of_violation(source, module, expected):
    found = violations(source, module)
    assert len(found) == 1 and expected in found[0]


def test_checker_accepts_what_the_rules_allow():
    source = ("import mmap\nimport numpy as np\nfrom parsers.minidump import MINIDUMP_HEADER\n"
              "from toolkit.model.errors import UnreadableMemory\n")
    assert violations(source, "toolkit.model.memory") == []
