"""``dumpkit triage --scheduler``: a real ``dask scheduler`` and two ``dask worker`` processes on
127.0.0.1 give the same buckets, counts and refusals as ``--jobs 1`` on the same inputs."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import SAMPLES

DUMPS = SAMPLES / "dumps"
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    distributed = pytest.importorskip("distributed", reason="Dask's distributed is not installed "
                                      "(pip install 'dumpkit[cluster]')")
    if not (BIN / "dask").exists():
        pytest.skip("the `dask` command is not installed beside the interpreter")
    logs = tmp_path_factory.mktemp("dask-logs")
    address = f"tcp://127.0.0.1:{_free_port()}"
    procs = [subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port",
                               address.rsplit(":", 1)[1], "--no-dashboard"],
                              stdout=subprocess.DEVNULL, stderr=open(logs / "scheduler", "w"))]
    try:
        for i in range(2):
            procs.append(subprocess.Popen(
                [str(BIN / "dask"), "worker", address, "--nthreads", "1", "--no-dashboard",
                 "--host", "127.0.0.1", "--name", f"w{i}"],
                stdout=subprocess.DEVNULL, stderr=open(logs / f"worker{i}", "w")))
        with distributed.Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def _triage(cwd: Path, *args: str) -> dict:
    out = subprocess.run([str(BIN / "dumpkit"), "triage", "--json", *args], capture_output=True,
                         text=True, timeout=600, cwd=str(cwd))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_a_dask_cluster_gives_the_buckets_of_one_local_process(cluster, tmp_path):
    with zipfile.ZipFile(tmp_path / "more.zip", "w") as z:
        z.write(DUMPS / "crash_x64-normal.dmp", "copy/crash.dmp")
        z.writestr("copy/tail.dmp", (DUMPS / "seh_x86-normal.dmp").read_bytes() + b"\0\1")
    (tmp_path / "bad.dmp").write_bytes(b"MDMP" + b"\xff" * 60)
    inputs = [str(DUMPS), str(tmp_path / "more.zip"), str(tmp_path / "bad.dmp")]
    (tmp_path / "local").mkdir()
    (tmp_path / "dask").mkdir()
    local = _triage(tmp_path / "local", "--jobs", "1", *inputs)
    remote = _triage(tmp_path / "dask", "--scheduler", cluster, *inputs)
    assert remote["processed"] == local["processed"] == local["dumps"]
    assert remote["buckets"] == local["buckets"]
    assert remote["refused_dumps"] == local["refused_dumps"]
    assert [(b["bucket"], b["count"]) for b in remote["buckets"]] == \
        [(b["bucket"], b["count"]) for b in local["buckets"]]
    again = _triage(tmp_path / "dask", "--scheduler", cluster, *inputs)
    assert again["processed"] == 0 and again["buckets"] == local["buckets"]


def test_an_unreachable_scheduler_is_a_one_line_error(tmp_path):
    pytest.importorskip("distributed", reason="Dask's distributed is not installed")
    out = subprocess.run([str(BIN / "dumpkit"), "triage", "--scheduler",
                          f"tcp://127.0.0.1:{_free_port()}", str(DUMPS)],
                         capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert out.returncode == 2, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
