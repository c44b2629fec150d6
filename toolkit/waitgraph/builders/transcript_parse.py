"""Read WinDbg / kd transcript text into records: threads with their waits and stacks, lock and
handle listings, object names, Driver Verifier deadlock reports.

This module only *recognises* text; ``transcript.py`` turns the records into graph edges. The
reader is a line-driven state machine because debugger output is a sequence of command echoes
(``0:006> ~4 kb``, ``kd> !process 0 7``) each followed by its output, and what a line means depends
on the command and block it sits in: a frame line belongs to the thread whose header came last,
or to the thread the command named (``~4 kb``), or to the prompt's current thread (``0:021> kb``).

Tolerated noise: markdown fences and headings (the corpus transcripts are documentation pages),
``## `` artefacts before prompts, ``//`` annotations, wrapped THREAD and frame lines, truncation
marks (``.....``) and prose between blocks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Tuple

from toolkit.waitgraph.model import Evidence, Frame

# A number starts with a digit: a lone backtick (the 64-bit separator) is no number.
HEX = r"[0-9a-fA-F][0-9a-fA-F`]*"

_PROMPT = re.compile(r"^\s*(?:(\d+):(\d+)(?::\w+)?|(?:\d+:\s*)?kd)>\s?(.*)$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_PROCESS = re.compile(r"^\s*PROCESS\s+(" + HEX + r")\b(.*)$")
_CID_PROC = re.compile(r"\bCid:\s*([0-9a-fA-F]+)")
_PARENT = re.compile(r"\bParentCid:\s*([0-9a-fA-F]+)")
_IMAGE = re.compile(r"^\s*Image:\s*(\S+)")
_DEBUG_PORT = re.compile(r"^\s*DebugPort\s+(" + HEX + r")\s*$")
_THREAD = re.compile(r"^\s*THREAD\s+(" + HEX + r")\s+Cid\s+([0-9a-fA-F]+)\.([0-9a-fA-F]+)(.*)$")
_STATE = re.compile(r"\b(WAIT: \((\w+)\)\s*(\w+)\s*([\w-]+)|RUNNING|READY|STANDBY|TERMINATED|"
                    r"TRANSITION|INITIALIZED|DEFERREDREADY|GATEWAIT)\b")
_WAIT_OBJECT = re.compile(r"^\s*(" + HEX + r")\s+([A-Za-z][A-Za-z0-9]*)"
                          r"(?:\s+-\s+owning thread\s+(" + HEX + r"))?(?:\s+Limit\s+\S+.*)?\s*$")
_OWNING_PROCESS = re.compile(r"^\s*Owning Process\s+" + HEX + r"\s+Image:\s+(\S+)")
_USER_THREAD = re.compile(r"^\s*(?:[.#]\s*)?(\d+)\s+[Ii]d:\s*([0-9a-fA-F]+)\.([0-9a-fA-F]+)\b")
HEX8 = r"[0-9a-fA-F][0-9a-fA-F`]{7,16}"
_FRAME = re.compile(r"^\s*(?:([0-9a-fA-F]{2,3})\s+)?(" + HEX8 + r")\s+(" + HEX8 + r")(?:\s+(.*))?$")
_CRITSEC = re.compile(r"^\s*CritSec\s+(.*?)\s+at\s+([0-9a-fA-F`]+)")
_CS_HEAD = re.compile(r"^\s*Critical section\s+=\s+(?:0x)?([0-9a-fA-F`]+)(?:\s+\((.*)\))?\s*$")
_LOCKCOUNT = re.compile(r"^\s*LockCount\s+(?:=\s*)?(NOT LOCKED|\S+)")
_OWNING = re.compile(r"^\s*OwningThread\s+(?:=\s*)?(?:0x)?([0-9a-fA-F`]+)")
_HANDLE = re.compile(r"^\s*Handle\s+([0-9a-fA-F`]+)\s*$")
_H_TYPE = re.compile(r"^\s*Type\s+(\w+)\s*$")
_H_NAME = re.compile(r"^\s*Name\s+(.*\S)\s*$")
_MUTANT_OWNER = re.compile(r"^\s*Mutant Owner\s+([0-9a-fA-F]+)\.([0-9a-fA-F]+)")
_OBJECT = re.compile(r"^\s*Object:\s+(" + HEX + r")\s+Type:\s+\(" + HEX + r"\)\s+(\w+)")
_OBJ_NAME = re.compile(r"\bName:\s*(\S.*)$")       # lines come right-stripped
_RESOURCE = re.compile(r"^\s*Resource @\s+(?:(\S+)\s+\(0x([0-9a-fA-F]+)\)|(?:0x)?([0-9a-fA-F]+))(.*)$")
_RES_THREADS = re.compile(r"^\s*Threads:\s+(.*)$")
_RES_ENTRY = re.compile(r"^\s*Thread = ([0-9a-fA-F]+), Count = ([0-9a-fA-F]+)")
_RES_WAITERS = re.compile(r"^\s*Threads Waiting On (Exclusive|Shared) Access:\s*(.*)$")
_VERIFIER = re.compile(r"Deadlock detected \((\d+) resources? in (\d+) threads?\)")
_V_ORDER = re.compile(r"^\s*Thread (\d+):\s+(\w+(?:\s+\w+)*)\s*$")
_V_THREAD = re.compile(r"^\s*Thread (\d+) = ([0-9a-fA-F]+)")
_V_LOCK = re.compile(r"^\s*Lock (\w+) =\s+(\S+)\s+Type '([^']+)'")
_V_TOOK = re.compile(r"^\s*Thread (\d+) \(([0-9a-fA-F]+)\) took locks")
_V_LOCK2 = re.compile(r"^\s*Lock (\w+) -- (\S+) \(([^)]+)\)")
_TRUNCATED = re.compile(r"^\s*\.{3,}\s*$")
_NOT_RESIDENT = re.compile(r"Kernel stack not resident|Stack paged out|Unable to get (stack|context)")
_HEX_ONLY = re.compile(r"^[0-9a-fA-F`]+$")
# Debugger output aligns columns with a few dozen blanks at most. A longer run is squeezed to
# this many, because patterns with adjacent or lazy quantifiers (``\s*X?\s*``, ``(.*?)\s+at``,
# ``\s+//.*$`` per start position) cost the square of a blank run: 33 s for one 40 KB line.
MAX_BLANK_RUN = 64
_LONG_BLANKS = re.compile(r"\s{%d,}" % (MAX_BLANK_RUN + 1))
# No debugger prints a number wider than a 64-bit value (17 characters with the backtick), and a
# GUID is 32 hex digits. A longer digit run is no number we could use: it is replaced by a
# placeholder, so no pattern captures it and int() never meets Python's 4300-digit limit nor
# JSON an integer of thousands of digits.
MAX_NUMBER_CHARS = 32
_OVERLONG_NUMBER = re.compile(r"[0-9a-fA-F`]{%d,}" % (MAX_NUMBER_CHARS + 1))
OVERLONG_NUMBER = "<overlong number>"


def parse_hex(text: str) -> int:
    return int(text.replace("`", ""), 16)


@dataclass
class ThreadObs:
    """One sighting of a thread: a kd THREAD block or a user-mode stack listing."""

    evidence: Evidence
    kind: str                                  # "kernel" | "user" | "anon"
    pid: Optional[int] = None
    tid: Optional[int] = None
    kthread: Optional[int] = None
    index: Optional[int] = None                # user-mode debugger thread number
    process_name: Optional[str] = None
    state: Optional[str] = None                # "waiting" | "running" | "terminated" | None
    wait_objects: List[Tuple[int, str, Optional[int], Evidence]] = field(default_factory=list)
    frames: List[Frame] = field(default_factory=list)
    x86: Optional[bool] = None


@dataclass
class CSRecord:
    address: int
    name: Optional[str]
    evidence: Evidence
    pid_ctx: Optional[int]
    owner_tid: Optional[int] = None            # 0 = nobody
    locked: Optional[bool] = None


@dataclass
class HandleRecord:
    handle: int
    evidence: Evidence
    pid_ctx: Optional[int]
    type_name: Optional[str] = None
    name: Optional[str] = None
    owner: Optional[Tuple[int, int]] = None
    free: bool = False


@dataclass
class ObjectRecord:
    address: int
    type_name: str
    evidence: Evidence
    name: Optional[str] = None


@dataclass
class ResourceRecord:
    """A kernel ERESOURCE from ``!locks`` or a resource time-out break message."""

    address: int
    name: Optional[str]
    evidence: Evidence
    owners: List[int] = field(default_factory=list)
    waiters: List[int] = field(default_factory=list)
    exclusive: bool = False
    entries: List[int] = field(default_factory=list)


@dataclass
class VerifierRecord:
    """Driver Verifier's ``!deadlock``: per thread the locks in the order it took them."""

    evidence: Evidence
    threads: Dict[str, int] = field(default_factory=dict)
    locks: Dict[str, Tuple[str, str]] = field(default_factory=dict)
    orders: Dict[str, List[str]] = field(default_factory=dict)


@dataclass
class ProcessRecord:
    address: int
    evidence: Evidence
    pid: Optional[int] = None
    parent: Optional[int] = None
    name: Optional[str] = None
    debug_port: Optional[int] = None


@dataclass
class Transcript:
    source: str
    threads: List[ThreadObs] = field(default_factory=list)
    critical_sections: List[CSRecord] = field(default_factory=list)
    handles: List[HandleRecord] = field(default_factory=list)
    objects: List[ObjectRecord] = field(default_factory=list)
    resources: List[ResourceRecord] = field(default_factory=list)
    verifier: List[VerifierRecord] = field(default_factory=list)
    processes: List[ProcessRecord] = field(default_factory=list)
    index_map: List[Tuple[int, int, int, Evidence]] = field(default_factory=list)
    skipped: List[Evidence] = field(default_factory=list)
    lines: int = 0


def clean_lines(text: str) -> Iterator[Tuple[int, str]]:
    """Numbered lines with markdown/annotation noise removed and wrapped lines re-joined."""
    pending: Optional[Tuple[int, str]] = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = _LONG_BLANKS.sub(" " * MAX_BLANK_RUN, raw.rstrip())
        line = _OVERLONG_NUMBER.sub(OVERLONG_NUMBER, line)
        line = re.sub(r"^#{2,}\s+", "", line)
        line = re.sub(r"\s+//.*$", "", line)
        if pending is not None:
            first_no, first = pending
            pending = None
            if _continues(first, line):
                yield first_no, first + " " + line.strip()
                continue
            yield first_no, first
        if _wants_continuation(line):
            pending = (number, line)
            continue
        yield number, line
    if pending is not None:
        yield pending


def _wants_continuation(line: str) -> bool:
    """A THREAD header cut before its state, or a frame line cut before its call site."""
    thread = _THREAD.match(line)
    if thread:
        return not _STATE.search(thread.group(4))
    frame = _FRAME.match(line)
    return bool(frame and frame.group(4) is None and frame.group(1) is not None)


def _continues(first: str, line: str) -> bool:
    stripped = line.strip()
    if not stripped or _PROMPT.match(line) or _FENCE.match(line):
        return False
    if _THREAD.match(first):
        return bool(_STATE.match(stripped))
    return not _FRAME.match(line)


def function_of(call_site: str) -> str:
    """``ntdll!_RtlEnterCriticalSection+0x48 (FPO: ..) [file @ 1]`` -> ``ntdll!_RtlEnterCriticalSection``."""
    site = call_site.strip()
    site = re.split(r"\s+\[|\s+\(", site, 1)[0]
    return re.sub(r"\+0x[0-9a-fA-F]+$|\+[0-9a-fA-F]+$", "", site)


class _Reader:
    def __init__(self, source: str) -> None:
        self.out = Transcript(source)
        self.source = source
        self.mode: Optional[str] = None
        self.record: object = None
        self.stack_owner: Optional[ThreadObs] = None
        self.stack_target: Optional[Tuple[str, object]] = None   # ("index", n) | ("kthread", a)
        self.process: Optional[ProcessRecord] = None
        self.user_pid: Optional[int] = None
        self.prompt_index: Optional[int] = None
        self.kernel_prompt = False
        self.current_kthread: Optional[int] = None

    def ev(self, number: int, line: str) -> Evidence:
        return Evidence(self.source, number, line.strip())

    # -- dispatch ----------------------------------------------------------------------------
    def feed(self, number: int, line: str) -> None:
        self.out.lines = number
        if _FENCE.match(line):
            self.end_block()
            return
        prompt = _PROMPT.match(line)
        if prompt:
            self.command(number, line, prompt)
            return
        if not line.strip():
            if self.mode in ("waitobjs",):
                self.mode = None
            return
        for handler in (self.on_thread, self.on_process, self.on_user_thread, self.on_records,
                        self.on_mode_line, self.on_frame, self.on_noise):
            if handler(number, line):
                return

    def end_block(self) -> None:
        self.mode = None
        self.record = None
        self.stack_owner = None
        self.stack_target = None

    def command(self, number: int, line: str, prompt: "re.Match[str]") -> None:
        self.end_block()
        self.kernel_prompt = prompt.group(1) is None
        if prompt.group(2) is not None:
            self.prompt_index = int(prompt.group(2))
        cmd = prompt.group(3).strip()
        switch = re.match(r"~(\d+)\s*s\b", cmd)
        if switch:
            self.prompt_index = int(switch.group(1))
            return
        on_thread = re.match(r"~(\d+)\s*k", cmd)
        if on_thread:
            self.stack_target = ("index", int(on_thread.group(1)))
            return
        dot_thread = re.match(r"\.thread\s+(?:/\w+\s+)*(" + HEX + r")", cmd)
        if dot_thread:
            self.current_kthread = parse_hex(dot_thread.group(1))
            return
        if re.match(r"k[a-zA-Z]*\b", cmd):
            if self.kernel_prompt:
                if self.current_kthread is not None:
                    self.stack_target = ("kthread", self.current_kthread)
            elif self.prompt_index is not None:
                self.stack_target = ("index", self.prompt_index)

    # -- kd process / thread blocks --------------------------------------------------------------
    def on_process(self, number: int, line: str) -> bool:
        m = _PROCESS.match(line)
        if m:
            self.end_block()
            self.process = ProcessRecord(parse_hex(m.group(1)), self.ev(number, line))
            self.out.processes.append(self.process)
            self._process_fields(m.group(2))
            self.mode = "process"
            return True
        if self.mode == "process" and self.process is not None:
            if _CID_PROC.search(line) or _PARENT.search(line):
                self._process_fields(line)
                return True
            image = _IMAGE.match(line)
            if image:
                self.process.name = image.group(1)
                return True
            port = _DEBUG_PORT.match(line)
            if port:
                self.process.debug_port = parse_hex(port.group(1)) or None
                return True
        return False

    def _process_fields(self, text: str) -> None:
        assert self.process is not None
        cid = _CID_PROC.search(text)
        if cid:
            self.process.pid = int(cid.group(1), 16)
        parent = _PARENT.search(text)
        if parent:
            self.process.parent = int(parent.group(1), 16)

    def on_thread(self, number: int, line: str) -> bool:
        m = _THREAD.match(line)
        if not m:
            return False
        self.mode = "waitobjs"
        pid = int(m.group(2), 16)
        obs = ThreadObs(self.ev(number, line), "kernel", pid=pid, tid=int(m.group(3), 16),
                        kthread=parse_hex(m.group(1)))
        if self.process is not None and self.process.pid == pid:
            obs.process_name = self.process.name
        state = _STATE.search(m.group(4))
        if state:
            word = state.group(1)
            obs.state = "waiting" if word.startswith("WAIT") else \
                "terminated" if word == "TERMINATED" else "running"
        else:
            self.out.skipped.append(self.ev(number, line))
        self.out.threads.append(obs)
        self.stack_owner = obs
        self.stack_target = None
        return True

    def on_user_thread(self, number: int, line: str) -> bool:
        m = _USER_THREAD.match(line)
        if not m:
            return False
        index, pid, tid = int(m.group(1)), int(m.group(2), 16), int(m.group(3), 16)
        evidence = self.ev(number, line)
        self.out.index_map.append((index, pid, tid, evidence))
        self.user_pid = pid
        obs = ThreadObs(evidence, "user", pid=pid, tid=tid, index=index)
        self.out.threads.append(obs)
        self.stack_owner = obs
        self.stack_target = None
        self.mode = None
        return True

    # -- listings ----------------------------------------------------------------------------
    def on_records(self, number: int, line: str) -> bool:
        ev = self.ev(number, line)
        m = _CRITSEC.match(line)
        if m:
            self._cs(CSRecord(parse_hex(m.group(2)), m.group(1), ev, self.user_pid))
            return True
        m = _CS_HEAD.match(line)
        if m:
            self._cs(CSRecord(parse_hex(m.group(1)), m.group(2), ev, self.user_pid))
            return True
        m = _HANDLE.match(line)
        if m:
            self.record = HandleRecord(parse_hex(m.group(1)), ev, self.user_pid)
            self.out.handles.append(self.record)
            self.mode = "handle"
            return True
        m = _OBJECT.match(line)
        if m:
            self.record = ObjectRecord(parse_hex(m.group(1)), m.group(2), ev)
            self.out.objects.append(self.record)
            self.mode = "object"
            return True
        m = _RESOURCE.match(line)
        if m:
            address = m.group(2) or m.group(3)
            self.record = ResourceRecord(int(address, 16), m.group(1), ev,
                                         exclusive="Exclusively owned" in m.group(4))
            self.out.resources.append(self.record)
            self.mode = "resource"
            return True
        m = _VERIFIER.search(line)
        if m:
            self.record = VerifierRecord(ev)
            self.out.verifier.append(self.record)
            self.mode = "verifier"
            return True
        return False

    def _cs(self, record: CSRecord) -> None:
        self.end_block()
        self.record = record
        self.out.critical_sections.append(record)
        self.mode = "cs"

    def on_mode_line(self, number: int, line: str) -> bool:
        handler = {"waitobjs": self.on_wait_object, "cs": self.on_cs_field,
                   "handle": self.on_handle_field, "object": self.on_object_field,
                   "resource": self.on_resource_field, "verifier": self.on_verifier_field,
                   }.get(self.mode or "")
        return bool(handler and handler(number, line))

    def on_wait_object(self, number: int, line: str) -> bool:
        m = _WAIT_OBJECT.match(line)
        if not m or self.stack_owner is None or _FRAME.match(line) and not m.group(3) \
                and _HEX_ONLY.match(m.group(2)):
            self.mode = None
            return False
        owner = parse_hex(m.group(3)) if m.group(3) else None
        self.stack_owner.wait_objects.append((parse_hex(m.group(1)), m.group(2), owner,
                                              self.ev(number, line)))
        return True

    def on_cs_field(self, number: int, line: str) -> bool:
        record = self.record
        assert isinstance(record, CSRecord)
        stripped = line.strip()
        if stripped in ("LOCKED", "*** Locked"):
            record.locked = True
            return True
        if stripped == "NOT LOCKED":
            record.locked = False
            return True
        m = _LOCKCOUNT.match(line)
        if m:
            if m.group(1) == "NOT LOCKED":
                record.locked = False
            return True
        m = _OWNING.match(line)
        if m:
            record.owner_tid = parse_hex(m.group(1))
            return True
        return bool(re.match(r"^\s*(DebugInfo|RecursionCount|EntryCount|ContentionCount|"
                             r"LockSemaphore|SpinCount|WaiterWoken)\b", line))

    def on_handle_field(self, number: int, line: str) -> bool:
        record = self.record
        assert isinstance(record, HandleRecord)
        m = _H_TYPE.match(line)
        if m:
            record.type_name = m.group(1)
            return True
        m = _H_NAME.match(line)
        if m:
            record.name = None if m.group(1) == "<none>" else m.group(1)
            return True
        m = _MUTANT_OWNER.match(line)
        if m:
            record.owner = (int(m.group(1), 16), int(m.group(2), 16))
            return True
        if re.match(r"^\s*Mutex is Free", line):
            record.free = True
            return True
        return bool(re.match(r"^\s*(Attributes|GrantedAccess|HandleCount|PointerCount|Object "
                             r"Specific|Mutex is|Event|Delete|QueryState|Synch)", line))

    def on_object_field(self, number: int, line: str) -> bool:
        record = self.record
        assert isinstance(record, ObjectRecord)
        m = _OBJ_NAME.search(line)
        if m:
            record.name = m.group(1)
            return True
        return bool(re.match(r"^\s*(ObjectHeader|HandleCount)", line))

    def on_resource_field(self, number: int, line: str) -> bool:
        record = self.record
        assert isinstance(record, ResourceRecord)
        m = _RES_THREADS.match(line)
        if m:
            tokens = m.group(1).split()
            marked, listed = [], []
            for i, token in enumerate(tokens):
                t = re.match(r"([0-9a-fA-F]+)-[0-9a-fA-F]+(<\*>)?$", token)
                if t:
                    listed.append(int(t.group(1), 16))
                    if t.group(2):
                        marked.append(len(listed) - 1)
                elif token == "Thread" and i + 1 < len(tokens) and listed and \
                        re.match(r"[0-9a-fA-F]+$", tokens[i + 1]):
                    listed[-1] = int(tokens[i + 1], 16)       # "*** Actual Thread X"
            owners = [listed[i] for i in marked] if marked else listed[:1]
            if self.mode == "resource_waiters":
                record.waiters.extend(listed)
            else:
                record.owners.extend(owners)
            return True
        m = _RES_ENTRY.match(line)
        if m:
            value = int(m.group(1), 16)
            if value:
                record.entries.append(value)
            return True
        m = _RES_WAITERS.match(line)
        if m:
            record.waiters.extend(int(t, 16) for t in re.findall(r"\b([0-9a-fA-F]{8,16})\b",
                                                                  m.group(2)))
            return True
        if "IsOwnedExclusive" in line:
            record.exclusive = True
        return bool(re.match(r"^\s*(ActiveCount|NumberOfExclusiveWaiters|NumberOfSharedWaiters|"
                             r"Contention Count|KD: Scanning|\d+ total locks)", line))

    def on_verifier_field(self, number: int, line: str) -> bool:
        record = self.record
        assert isinstance(record, VerifierRecord)
        m = _V_THREAD.match(line)
        if m:
            record.threads[m.group(1)] = int(m.group(2), 16)
            return True
        m = _V_ORDER.match(line)
        if m:
            record.orders[m.group(1)] = m.group(2).split()
            return True
        m = _V_LOCK.match(line)
        if m:
            record.locks[m.group(1)] = (m.group(2), m.group(3))
            return True
        m = _V_TOOK.match(line)
        if m:
            record.threads[m.group(1)] = int(m.group(2), 16)
            record.orders[m.group(1)] = []
            self._verifier_thread = m.group(1)
            return True
        m = _V_LOCK2.match(line)
        if m and getattr(self, "_verifier_thread", None) in record.orders:
            record.orders[self._verifier_thread].append(m.group(1))
            record.locks[m.group(1)] = (m.group(2), m.group(3))
            return True
        return bool(line.strip().startswith(("Stack:", "Where:")) or line.startswith("    "))

    # -- stacks ------------------------------------------------------------------------------
    def on_frame(self, number: int, line: str) -> bool:
        m = _FRAME.match(line)
        if not m or not m.group(4):
            return False
        rest = m.group(4)
        child = m.group(2)
        if " : " in " " + rest:
            parts = (" " + rest).split(" : ")
            args = tuple(parse_hex(a) for a in parts[1].split() if _HEX_ONLY.match(a)) \
                if len(parts) >= 3 else ()
            site = parts[-1]
        else:
            tokens = rest.split()
            args_list: List[int] = []
            while tokens and _HEX_ONLY.match(tokens[0]) and len(args_list) < 4 and len(tokens) > 1:
                args_list.append(parse_hex(tokens.pop(0)))
            args = tuple(args_list)
            site = " ".join(tokens)
        if not site or site.startswith(("Args to Child", "Call Site")):
            return False
        owner = self._frame_owner(number, line)
        owner.frames.append(Frame(function_of(site), args, Evidence(self.source, number,
                                                                    line.strip(), "frame")))
        if owner.x86 is None:
            owner.x86 = "`" not in child and len(child) <= 8
        self.mode = None if self.mode == "waitobjs" else self.mode
        return True

    def _frame_owner(self, number: int, line: str) -> ThreadObs:
        if self.stack_owner is not None:
            return self.stack_owner
        target = self.stack_target
        if target and target[0] == "index":
            obs = ThreadObs(self.ev(number, line), "user", index=int(target[1]))  # type: ignore
        elif target and target[0] == "kthread":
            obs = ThreadObs(self.ev(number, line), "kernel", kthread=int(target[1]))  # type: ignore
        else:
            obs = ThreadObs(self.ev(number, line), "anon")
        self.out.threads.append(obs)
        self.stack_owner = obs
        return obs

    def on_noise(self, number: int, line: str) -> bool:
        if _TRUNCATED.match(line) or _NOT_RESIDENT.search(line):
            self.out.skipped.append(self.ev(number, line))
            return True
        m = _OWNING_PROCESS.match(line)
        if m and self.stack_owner is not None and self.stack_owner.process_name is None:
            self.stack_owner.process_name = m.group(1)
            return True
        return False


def parse_transcript(text: str, source: str) -> Transcript:
    """Every record the text holds, in the order it appeared."""
    reader = _Reader(source)
    for number, line in clean_lines(text):
        reader.feed(number, line)
    return reader.out


__all__ = ["Transcript", "ThreadObs", "CSRecord", "HandleRecord", "ObjectRecord",
           "ResourceRecord", "VerifierRecord", "ProcessRecord", "parse_transcript",
           "function_of", "parse_hex"]
