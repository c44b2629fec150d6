"""Rendering helpers shared by commands: JSON envelopes, the rich console, and the one escaping
of control characters every text line goes through (dump strings are attacker-controlled: a
NUL, ESC or newline in a module name must not end a line or drive the terminal)."""

from __future__ import annotations

import re
import sys
from typing import Any, Callable, Dict, Iterable, List, Optional

import click

SCHEMA_VERSION = 1
PRETTY = False          # set by --pretty (commands.common.json_option) for this invocation
_STREAM_BATCH = 4096    # items joined per write when streaming a JSON array


def dumps(doc: Any) -> str:
    """Compact JSON through the C encoder (``indent`` forces the pure-Python one), or indented
    with ``--pretty``."""
    import json   # here, not at the top: text output (most runs) never needs it
    return json.dumps(doc, indent=2) if PRETTY else json.dumps(doc)


# C0 controls but tab, DEL, C1 controls, Unicode line/paragraph separators and bidi overrides.
_CONTROLS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape_one(match: "re.Match[str]") -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """``text`` with every control character written as ``\\xNN`` / ``\\uNNNN``, so one
    value stays on one line and cannot send terminal escapes (JSON output escapes by itself)."""
    if _CONTROLS.search(text) is None:
        return text
    return _CONTROLS.sub(_escape_one, text)


_CONTROLS_BUT_NEWLINE = re.compile(_CONTROLS.pattern.replace("\x0a-", "\x0b-"))


def escape_block(lines: List[str]) -> str:
    """``lines`` joined by newlines, each escaped as ``escape_controls`` would, in one regex
    pass over the block (a per-line call costs more than the rest of `symbolize`'s output)."""
    text = "\n".join(lines)
    if text.count("\n") != len(lines) - 1:      # a newline inside some line: escape each
        return "\n".join(escape_controls(line) for line in lines)
    if _CONTROLS_BUT_NEWLINE.search(text) is None:
        return text
    return _CONTROLS_BUT_NEWLINE.sub(_escape_one, text)


def write(line: str = "", err: bool = False) -> None:
    """One plain text line on stdout (or stderr), escaped."""
    click.echo(escape_controls(line), err=err)


def write_lines(lines: Iterable[str], err: bool = False) -> None:
    """Each of ``lines`` as its own escaped line."""
    for line in lines:
        click.echo(escape_controls(line), err=err)


def emit_json(command: str, payload: Dict[str, Any]) -> None:
    """Print one JSON object: ``schema_version`` and ``command`` first, then the payload."""
    doc = {"schema_version": SCHEMA_VERSION, "command": command}
    doc.update(payload)
    click.echo(dumps(doc))


def emit_json_streamed(command: str, head: Dict[str, Any], key: str,
                       items: Iterable[Dict[str, Any]],
                       tail: Callable[[], Dict[str, Any]] = dict) -> None:
    """``emit_json(command, {**head, key: list(items), **tail()})``, byte for byte, with the array
    written item by item as ``items`` yields (compact JSON), so a document of 20k thread
    stacks never sits in memory whole. ``tail`` is called after the last item: keys that are
    known only then (problems, symbol statuses) follow the array. ``--pretty`` builds the
    whole document (the indenting encoder is the pure-Python one anyway)."""
    if PRETTY:
        whole = dict(head)
        whole[key] = list(items)
        whole.update(tail())
        emit_json(command, whole)
        return
    import json
    doc: Dict[str, Any] = {"schema_version": SCHEMA_VERSION, "command": command}
    doc.update(head)
    doc[key] = []
    opening = json.dumps(doc)
    out = sys.stdout
    out.write(opening[:-2])                     # up to and with the array's "["
    batch: List[str] = []
    first = True
    for item in items:
        batch.append(json.dumps(item))
        if len(batch) >= 256:
            out.write(("" if first else ", ") + ", ".join(batch))
            first, batch = False, []
    if batch:
        out.write(("" if first else ", ") + ", ".join(batch))
    rest = json.dumps(tail())
    out.write("]" + (", " + rest[1:] if rest != "{}" else "}") + "\n")
    out.flush()


def emit_json_stream(command: str, key: str, items: Iterable[Any],
                     head: Optional[Dict[str, Any]] = None, encoded: bool = False) -> None:
    """Print one JSON object whose array ``key`` is written item by item, so memory stays
    constant however many items come (``symbolize --json`` of millions of lines).
    ``encoded``: the items are already compact JSON text (not with ``--pretty``)."""
    if encoded and PRETTY:
        raise ValueError("pre-encoded items cannot be indented")
    doc: Dict[str, Any] = {"schema_version": SCHEMA_VERSION, "command": command}
    doc.update(head or {})
    doc[key] = []
    text = dumps(doc)
    cut = text.rindex("[") + 1        # the empty array is the last value in the object
    out = sys.stdout
    out.write(text[:cut])
    sep, indent = (",\n", "    ") if PRETTY else (",", "")
    batch = []
    first = True
    for item in items:
        piece = item if encoded else dumps(item)
        if indent:
            piece = indent + piece.replace("\n", "\n" + indent)
        batch.append(piece)
        if len(batch) >= _STREAM_BATCH:
            out.write(("\n" if first and indent else (sep if not first else "")) + sep.join(batch))
            first = False
            batch = []
    if batch:
        out.write(("\n" if first and indent else (sep if not first else "")) + sep.join(batch))
        first = False
    out.write(("\n  " if indent and not first else "") + text[cut:] + "\n")
    out.flush()


def console():
    """A rich console on stdout; colour only when stdout is a terminal."""
    from rich.console import Console
    return Console(file=sys.stdout, highlight=False, soft_wrap=True,
                   force_terminal=None if sys.stdout.isatty() else False, width=200)


# Words a reader scans for, coloured only on a terminal (pipes and WinDbg get plain text).
_HIGHLIGHTS = (
    (r"\b(invalid|UNSAFE|FAIL(ED)?)\b|\[CYCLE\]|\[DEADLOCK \d+\]", "bold red"),
    (r"\b(unverifiable|heuristic|scan|possible)\b", "yellow"),
    (r"\b(valid|SAFE|pass|context|cfi|call-verified|call)\b", "green"),
    (r"^(Thread|Deadlocks|Blocked chains|Policy|Overall)\b[^:]*:?", "bold"),
)


def echo(line: str = "") -> None:
    """One line of a command's text view: rich colour on a terminal, plain text elsewhere;
    control characters escaped either way."""
    line = escape_controls(line)
    if not sys.stdout.isatty():
        click.echo(line)
        return
    from rich.text import Text
    text = Text(line)
    for pattern, style in _HIGHLIGHTS:
        text.highlight_regex(re.compile(pattern, re.M), style)
    console().print(text)
