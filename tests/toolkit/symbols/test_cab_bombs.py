"""CAB bombs: expansion stops at the cap whichever expander runs, with bounded memory.

The CABs are built here (MS-CAB: one folder, one file, MSZIP blocks of at most 32 KB, each a
deflate stream whose dictionary is the previous block) so their headers can tell the truth or lie.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Iterable, List, Optional, Tuple

import pytest

from tests.conftest import REPO
from toolkit.symbols import cab

BLOCK = 32768


def mszip_blocks(chunks: Iterable[bytes]) -> List[Tuple[bytes, int]]:
    """``(CK + deflate, uncompressed size)`` per chunk, each primed with the previous chunk."""
    out, history = [], b""
    for chunk in chunks:
        comp = zlib.compressobj(9, zlib.DEFLATED, -15, zdict=history) if history else \
            zlib.compressobj(9, zlib.DEFLATED, -15)
        out.append((b"CK" + comp.compress(chunk) + comp.flush(), len(chunk)))
        history = chunk
    return out


def build_cab(blocks: List[Tuple[bytes, int]], file_size: int, name: bytes = b"bomb.pdb",
              declared_blocks: Optional[int] = None) -> bytes:
    data_start = 36 + 8 + 16 + len(name) + 1
    body = b"".join(struct.pack("<IHH", 0, len(p), n) + p for p, n in blocks)
    header = struct.pack("<4sIIIIIBBHHHHH", b"MSCF", 0, data_start + len(body), 0, 44, 0, 3, 1,
                         1, 1, 0, 0, 0)
    folder = struct.pack("<IHH", data_start, len(blocks) if declared_blocks is None
                         else declared_blocks, 1)
    cffile = struct.pack("<IIHHHH", file_size, 0, 0, 0, 0, 0x20) + name + b"\0"
    return header + folder + cffile + body


def zero_bomb(path: Path, blocks: int) -> Path:
    one = mszip_blocks([bytes(BLOCK), bytes(BLOCK)])[1]   # a zero block primed with zeros
    first = mszip_blocks([bytes(BLOCK)])[0]
    path.write_bytes(build_cab([first] + [one] * (blocks - 1), blocks * BLOCK))
    return path


def test_a_built_cab_expands_to_its_content(tmp_path):
    content = os.urandom(5000) + bytes(70000) + b"end"
    chunks = [content[i:i + BLOCK] for i in range(0, len(content), BLOCK)]
    src = tmp_path / "ok.pd_"
    src.write_bytes(build_cab(mszip_blocks(chunks), len(content)))
    assert cab.expand(src, tmp_path / "out", 1 << 30).read_bytes() == content


def test_a_zero_bomb_under_the_byte_cap_is_refused_from_its_headers(tmp_path):
    src = zero_bomb(tmp_path / "bomb.pd_", 65535)          # 3.6 MB declaring 2 GiB of zeros
    with pytest.raises(cab.CabError) as err:
        cab.expand(src, tmp_path / "out", 2 * 1024 ** 3)
    assert err.value.code == "download-too-large"
    assert "decompression bomb" in str(err.value) and "\n" not in str(err.value)
    assert list((tmp_path / "out").glob("*")) == []


def test_a_block_inflating_past_its_declared_size_is_stopped_there(tmp_path):
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = b"CK" + b"".join(comp.compress(bytes(1 << 20)) for _ in range(48)) + comp.flush()
    assert len(packed) < 65536
    src = tmp_path / "liar.pd_"                            # 48 MiB in one "32 KB" block
    src.write_bytes(build_cab([(packed, BLOCK)], BLOCK))
    with pytest.raises(cab.CabError) as err:
        cab.expand(src, tmp_path / "out", 2 * 1024 ** 3)
    assert err.value.code == "cab-corrupt" and "its header says 32768" in str(err.value)
    assert list((tmp_path / "out").glob("*")) == []


def test_blocks_beyond_the_declared_file_size_are_never_inflated(tmp_path):
    src = tmp_path / "long.pd_"
    zero_bomb(src, 4000)
    data = bytearray(src.read_bytes())
    struct.pack_into("<I", data, 44, 100)                 # cbFile: 100 bytes, 4000 blocks follow
    src.write_bytes(bytes(data))
    assert cab.expand(src, tmp_path / "out", 2 * 1024 ** 3).read_bytes() == bytes(100)


@pytest.mark.skipif(not shutil.which("cabextract"), reason="cabextract not on PATH (Debian "
                    "package cabextract)")
def test_cabextract_is_stopped_at_the_cap_and_leaves_no_file(tmp_path):
    src = zero_bomb(tmp_path / "bomb.pd_", 2000)           # 62.5 MiB of zeros
    with pytest.raises(cab.CabError) as err:
        cab._expand_cabextract(shutil.which("cabextract"), src, tmp_path / "out", 1 << 20, 60.0)
    assert err.value.code == "download-too-large"
    assert list((tmp_path / "out").glob("*")) == []


def test_a_large_honest_cab_expands_in_bounded_memory(tmp_path):
    """256 MiB out of a 3 MB CAB: the process (toolkit imports included) stays below the output
    size; cabarchive peaked at 540 MB here."""
    # Peak RSS is VmHWM, not ru_maxrss: ru_maxrss survives exec, so a child forked from a big
    # pytest process would report pytest's peak (398 MB in a full run) instead of its own.
    # Built lazily all the same, so the test holds little.
    chunks = (os.urandom(256) + bytes(BLOCK - 256) for _ in range(8192))
    src = tmp_path / "big.pd_"
    src.write_bytes(build_cab(mszip_blocks(chunks), 8192 * BLOCK))
    script = ("import sys, resource; from pathlib import Path; from toolkit.symbols import cab;"
              "out = cab.expand(Path(sys.argv[1]), Path(sys.argv[2]), 1 << 31);"
              "print(out.stat().st_size, int([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0]))")
    proc = subprocess.run([sys.executable, "-c", script, str(src), str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300, cwd=str(REPO))
    assert proc.returncode == 0, proc.stderr
    size, peak_kib = map(int, proc.stdout.split())
    assert size == 256 * 1024 * 1024
    assert peak_kib < 200 * 1024, f"peak RSS {peak_kib} KiB while expanding 256 MiB"
