"""Parallel compressed downloads stream to disk: six large ``.pd_`` bodies from a real HTTP server
(Python's own ``http.server`` in another process) are fetched, expanded and verified by a process
whose peak RSS stays far below what the bodies add up to."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO, corpus_path
from toolkit.model.debug_id import DebugId

BODY = 48 * 1024 * 1024          # per file; six of them: 288 MiB downloaded, 288 MiB expanded
COUNT = 6


def stored_cab(size: int, name: bytes) -> bytes:
    """Header of a stored (uncompressed) single-file CAB; blocks are appended by the caller."""
    blocks = (size + 32767) // 32768
    data_start = 36 + 8 + 16 + len(name) + 1
    header = struct.pack("<4sIIIIIBBHHHHH", b"MSCF", 0, data_start + blocks * 8 + size, 0, 44, 0,
                         3, 1, 1, 1, 0, 0, 0)
    return header + struct.pack("<IHH", data_start, blocks, 0) + \
        struct.pack("<IIHHHH", size, 0, 0, 0, 0, 0x20) + name + b"\0"


def write_pd_(dest: Path, pdb: bytes, size: int) -> None:
    """``pdb`` padded with noise to ``size`` bytes, as a stored CAB written block by block."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "wb") as out:
        out.write(stored_cab(size, dest.name[:-1].encode() + b"b"))
        written = 0
        while written < size:
            block = pdb[written:written + 32768]
            block = (block + os.urandom(32768 - len(block)))[:min(32768, size - written)]
            out.write(struct.pack("<IHH", 0, len(block), len(block)) + block)
            written += len(block)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def http_server(tmp_path):
    root = tmp_path / "server"
    root.mkdir()
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                             "127.0.0.1", "--directory", str(root)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(url + "/", timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield root, url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_six_large_compressed_downloads_in_parallel_stay_out_of_memory(http_server, tmp_path):
    root, url = http_server
    pdb = corpus_path("symbolic/windows/crash.pdb").read_bytes()
    sym = corpus_path("symbolic/windows/crash.sym").read_text(errors="replace")
    did = DebugId.parse(sym.split("\n", 1)[0].split()[3])
    for i in range(COUNT):
        write_pd_(root / f"big{i}.pdb" / did.breakpad / f"big{i}.pd_", pdb, BODY)
    script = """if True:
        import resource, sys
        from pathlib import Path
        from toolkit.model.debug_id import DebugId
        from toolkit.symbols.locator import DebugFileRequest, SymbolLocator
        from toolkit.symbols.symbol_path import SymbolPath
        url, cache, did, count = sys.argv[1], sys.argv[2], DebugId.parse(sys.argv[3]), int(sys.argv[4])
        loc = SymbolLocator(SymbolPath.parse(f"srv*{cache}*{url}"), max_workers=count)
        wanted = [DebugFileRequest(f"big{i}.pdb", did, ("pdb",)) for i in range(count)]
        loc.prefetch(wanted)
        found = [loc.find_debug_file(r.pdb_name, did, ("pdb",)) for r in wanted]
        print(sum(1 for f in found if f is not None and f.path.stat().st_size > 0),
              int([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0]), [p.message for p in loc.problems])
    """
    proc = subprocess.run([sys.executable, "-c", script, url, str(tmp_path / "cache"),
                           str(did), str(COUNT)], capture_output=True, text=True, timeout=600,
                          cwd=str(REPO))
    assert proc.returncode == 0, proc.stderr
    verified, peak_kib, problems = proc.stdout.split(" ", 2)
    assert int(verified) == COUNT, problems
    assert int(peak_kib) < 192 * 1024, f"peak RSS {peak_kib} KiB for {COUNT} x {BODY} bytes"
