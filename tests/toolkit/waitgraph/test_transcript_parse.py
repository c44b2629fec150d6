"""The transcript reader tolerates prompts, markdown, wrapped lines and truncation."""

from __future__ import annotations

from toolkit.waitgraph.analysis import analyse
from toolkit.waitgraph.builders.transcript import build_from_text
from toolkit.waitgraph.builders.transcript_parse import parse_transcript

KD_PAIR = """\
```
kd> !thread ffffe00011110000
THREAD ffffe00011110000  Cid 0010.0020  Teb: 0000000000000000 Win32Thread: 0000000000000000
 WAIT: (Executive) KernelMode Non-Alertable
    ffffe000aaaa0000  Mutant - owning thread ffffe00022220000
.....
```
Some prose between blocks.
```
kd> !thread ffffe00022220000
THREAD ffffe00022220000  Cid 0010.0030  Teb: 0000000000000000 Win32Thread: 0000000000000000 WAIT: (Executive) KernelMode Non-Alertable
    ffffe000bbbb0000  Mutant - owning thread ffffe00011110000
Kernel stack not resident.
```
"""


def test_wrapped_thread_header_and_fences_still_give_the_cycle():
    report = analyse(build_from_text(KD_PAIR, "pair.md"))
    assert len(report.cycles) == 1
    assert {report.graph.nodes[t].display() for t in report.cycles[0].threads} == \
        {"10.20", "10.30"}


def test_truncation_and_missing_stacks_are_reported_as_skipped():
    graph = build_from_text(KD_PAIR, "pair.md")
    assert [s.text for s in graph.skipped] == [".....", "Kernel stack not resident."]


def test_x86_kb_frame_gives_the_critical_section_argument():
    text = """0:000> ~1kb
ChildEBP RetAddr  Args to Child
0068fba0 77e9e8eb 00000460 00000000 00000000 ntdll!NtWaitForSingleObject+0xb
0068fbc8 4efeff73 0024e750 6833adb8 0024e750 ntdll!RtlpWaitForCriticalSection+0xaa
"""
    (obs,) = parse_transcript(text, "t").threads
    assert obs.index == 1 and obs.x86
    assert [f.args[0] for f in obs.frames] == [0x460, 0x24E750]


def test_frame_with_wrapped_call_site_is_joined():
    text = """   0  Id: 10.20 Suspend: 1 Teb: 7ffdf000 Unfrozen
00 0068fba0 77e9e8eb
   ntdll!NtWaitForSingleObject+0xb
"""
    (_listing,) = parse_transcript(text, "t").threads[:1]
    assert [f.function for f in _listing.frames] == ["ntdll!NtWaitForSingleObject"]


def test_markdown_heading_artefacts_before_prompts_are_ignored():
    text = """## 0:001> !cs
Critical section   = 0x6A262820 (ntdll!RtlCriticalSectionLock+0x0)
LOCKED
LockCount          = 0x0
OwningThread       = 0x460
## SpinCount          = 0x0
"""
    (record,) = parse_transcript(text, "t").critical_sections
    assert (record.address, record.owner_tid, record.locked) == (0x6A262820, 0x460, True)


def test_text_without_debugger_output_is_a_problem_not_an_error():
    graph = build_from_text("just prose\n", "prose.txt")
    assert [p.code for p in graph.problems] == ["no-debugger-output"]
