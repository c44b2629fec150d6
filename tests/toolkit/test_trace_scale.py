"""Big traces stay linear and bounded (issue 12: 300k modules or 5M addresses ran past 60 s).

Each test writes its trace with the project's TraceWriter, runs `dumpkit symbolize TRACE` in a
child process that reports its peak RSS (VmHWM), and spot-checks the text against what the
trace holds. Bounds: 1 GB for 300k modules (a Module per row is the floor), 600 MB for 5M
addresses (a Location per address, as before, would be several GB).
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import corpus_path
from toolkit.targets.trace import TraceModule, TraceWriter, capture_module

pytest.importorskip("symbolic")

_CHILD = ("import sys\n"
          "from commands.cli import main\n"
          "sys.argv = ['dumpkit'] + sys.argv[1:]\n"
          "try:\n"
          "    main()\n"
          "except SystemExit as exc:\n"
          "    code = exc.code\n"
          "sys.stdout.flush()\n"
          "peak = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
          "print('VmHWM', peak, 'exit', code, file=sys.stderr)\n")


def _symbolize(tmp_path, trace, *extra):
    """(stdout lines, peak RSS in MB) of `dumpkit symbolize TRACE -y STORE` in a child."""
    store = tmp_path / "store"
    store.mkdir(exist_ok=True)
    shutil.copy(corpus_path("symbolic/windows/crash.pdb"), store)
    out = tmp_path / "out.txt"
    with open(out, "wb") as fh:
        proc = subprocess.run([sys.executable, "-c", _CHILD, "symbolize", str(trace),
                               "-y", str(store), *extra], stdout=fh, stderr=subprocess.PIPE,
                              text=True, env={"DUMPKIT_SYMBOL_CACHE": str(tmp_path / "cache"),
                                              "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    tail = proc.stderr.strip().splitlines()[-1].split()
    assert tail[0] == "VmHWM" and tail[3] in ("0", "None"), proc.stderr[-2000:]
    return out.read_text().splitlines(), int(tail[1]) / 1024


def _crash_module():
    return capture_module(corpus_path("symbolic/windows/crash.exe"), 0x400000)[0]


def test_a_trace_of_300k_modules_resolves_each_event_in_its_own_module(tmp_path):
    crash = _crash_module()
    trace = tmp_path / "modules.trace"
    picked = np.random.default_rng(2).integers(1, 300_000, 1000)
    with open(trace, "wb") as fh:
        writer = TraceWriter(fh, machine="IMAGE_FILE_MACHINE_I386")
        writer.add_module(crash)
        for i in range(1, 300_000):
            writer.add_module(TraceModule(f"m{i}.dll", 0x10000000 + i * 0x10000, 0x8000, i,
                                          0x8000, 0, crash.debug_blob if i % 1000 == 0 else b""))
        writer.add_events(list(range(1000)), [1] * 1000,
                          [[0x10000000 + int(i) * 0x10000 + 0x10, 0x402a3d] for i in picked])
    lines, peak_mb = _symbolize(tmp_path, trace)
    assert len(lines) == 3000
    for event in (0, 1, 499, 999):
        head, first, second = lines[3 * event:3 * event + 3]
        assert head == f"event {event}  thread 0x1  time {event}"
        assert first == f"  00 m{picked[event]}+0x10  (no symbols)"
        assert second.startswith("  01 crash!main(int, char**)+0x12d [")
    assert peak_mb < 1024


def test_a_trace_of_5m_addresses_streams_in_bounded_memory(tmp_path):
    crash = _crash_module()
    trace = tmp_path / "addresses.trace"
    rng = np.random.default_rng(3)
    per_block = 1_000_000
    with open(trace, "wb") as fh:
        writer = TraceWriter(fh, machine="IMAGE_FILE_MACHINE_I386", pointer_size=4)
        writer.add_module(crash)
        for block in range(5):
            addresses = (0x401000 + rng.integers(0, 0x7000, per_block)).astype(np.uint64)
            addresses[::1000] = 0x402a3d          # known frames to spot-check
            addresses[1::1000] = 0x10             # outside every module
            events = per_block // 5
            writer.add_event_arrays(np.arange(events, dtype=np.uint64) + block * events,
                                    np.full(events, 7, np.uint32), np.full(events, 5, np.uint32),
                                    addresses)
    lines, peak_mb = _symbolize(tmp_path, trace)
    assert len(lines) == 6 * 1_000_000            # a header and five frames per event
    for event in (0, 200, 999_800):
        head = lines[6 * event]
        assert head == f"event {event}  thread 0x7  time {event}"
        assert lines[6 * event + 1].startswith("  00 crash!main(int, char**)+0x12d [")
        assert lines[6 * event + 2] == "  01 0x00000010  (no module)"
    assert all(line.startswith("  0") and " crash" in line
               for line in lines[3:6] + lines[-3:])
    assert peak_mb < 600
