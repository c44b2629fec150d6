"""Transcript text built to hurt the reader (issue 12): long blank runs against the patterns'
adjacent and lazy quantifiers, and numbers of thousands of digits. Each input is parsed by the
installed ``dumpkit deadlock`` in a subprocess whose timeout only catches a hang (the old
patterns took minutes on these lines); the answers are checked, not the time."""

from __future__ import annotations

import json

from tests.hostile.hostile_inputs import run_dumpkit
from toolkit.waitgraph.builders.transcript import build_from_text
from toolkit.waitgraph.builders.transcript_parse import OVERLONG_NUMBER, clean_lines

KD_PAIR = """\
kd> !thread ffffe00011110000
THREAD ffffe00011110000  Cid 0010.0020  Teb: 0000000000000000 Win32Thread: 0000000000000000 WAIT: (Executive) KernelMode Non-Alertable
    ffffe000aaaa0000  Mutant - owning thread ffffe00022220000
kd> !thread ffffe00022220000
THREAD ffffe00022220000  Cid 0010.0030  Teb: 0000000000000000 Win32Thread: 0000000000000000 WAIT: (Executive) KernelMode Non-Alertable
    ffffe000bbbb0000  Mutant - owning thread ffffe00011110000
"""
BLANKS = " " * 200_000


def deadlock_json(tmp_path, text: str) -> dict:
    path = tmp_path / "transcript.txt"
    path.write_text(text)
    out = run_dumpkit("deadlock", "--json", str(path), timeout=60)
    assert out.returncode in (0, 1) and not out.stderr, out.stderr[-2000:]
    return json.loads(out.stdout)


def test_long_blank_runs_before_user_thread_and_names_leave_the_cycle_found(tmp_path):
    hostile = "\n".join([BLANKS + "x", "." + BLANKS + "1 Id: 10.20",
                         "Object: ffffe000aaaa0000 Type: (ffffe000cccc0000) Mutant",
                         "    Name: x" + BLANKS + "y", "CritSec x" + BLANKS + "y",
                         "x" + " \t" * 100_000 + "/", "THREAD ffff Cid 1.2 WAIT: (x)" + BLANKS])
    doc = deadlock_json(tmp_path, hostile + "\n" + KD_PAIR)
    assert doc["summary"]["deadlocks"] == 1


def test_blank_runs_are_squeezed_to_a_bounded_width():
    (_, line), = clean_lines("a" + BLANKS + "b")
    assert line == "a" + " " * 64 + "b"


def test_a_prompt_with_5000_digits_is_text_not_a_number(tmp_path):
    doc = deadlock_json(tmp_path, "0:" + "9" * 5000 + "> kb\n" + KD_PAIR)
    assert doc["summary"]["deadlocks"] == 1


def test_a_5000_hex_digit_cid_is_no_thread_id_in_json(tmp_path):
    text = KD_PAIR.replace("Cid 0010.0020", "Cid 0010." + "f" * 5000)
    doc = deadlock_json(tmp_path, text)
    assert "f" * 33 not in json.dumps(doc)


def test_overlong_digit_runs_become_a_placeholder():
    (_, line), = clean_lines("Cid: " + "a" * 5000)
    assert line == "Cid: " + OVERLONG_NUMBER


def test_a_guid_of_32_hex_digits_is_kept():
    guid = "0123456789abcdef0123456789ABCDEF"
    (_, line), = clean_lines("Name: " + guid)
    assert line == "Name: " + guid
