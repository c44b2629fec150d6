"""Read the expected output out of LLVM lit ``.test`` files (FileCheck lines), as a tree.

``X86:   SEHandlerCount: 2`` -> leaf ("SEHandlerCount", "2"); ``X86: SEHTable [`` ... ``]`` ->
node ("SEHTable", [...]); bare lines (``0x10001BE0``) become (None, text) leaves. Only the
lines of one check prefix (and its -NEXT form) are read; -NOT lines are skipped.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, List, Optional, Tuple

Node = Tuple[Optional[str], Any]


def check_lines(path: Path, prefix: str = "CHECK") -> List[str]:
    pat = re.compile(rf"^\s*#?\s*{re.escape(prefix)}(?:-NEXT)?:\s?(.*)$")
    out = []
    for line in Path(path).read_text().splitlines():
        m = pat.match(line)
        if m and m.group(1).strip():
            out.append(m.group(1).strip())
    return out


def check_tree(path: Path, prefix: str = "CHECK") -> List[Node]:
    root: List[Node] = []
    stack = [root]
    for text in check_lines(path, prefix):
        if text in ("]", "}", ")"):
            if len(stack) > 1:
                stack.pop()
            continue
        m = re.match(r"^([\w ]+?)(?::\s*(.*?))?\s*([\[{(])(?:\s*\((0x[0-9A-Fa-f]+)\))?$", text)
        if m and (m.group(3) in "[{(") and not re.match(r"^\d{4}:", text):
            children: List[Node] = []
            name = m.group(1).strip()
            if m.group(4):
                children.append(("_value", m.group(4)))
            stack[-1].append((name, children))
            stack.append(children)
            continue
        key, sep, value = text.partition(": ")
        if sep and re.match(r"^[A-Za-z]\w*$", key):
            stack[-1].append((key, value))
        else:
            stack[-1].append((None, text))
    return root


def find(tree: List[Node], name: str) -> List[Any]:
    return [v for k, v in tree if k == name]


def leaf_dict(children: List[Node]) -> dict:
    return {k: v for k, v in children if k is not None and not isinstance(v, list)}


def number(text: str) -> int:
    """``0x5C`` / ``2`` / ``2016-06-01 22:53:16 (0x574F675C)`` / ``CodeView (0x2)`` -> int."""
    m = re.search(r"\((0x[0-9A-Fa-f]+)\)\s*$", text)
    if m:
        return int(m.group(1), 16)
    return int(text, 0)
