"""The deploy rehearsal (``make rehearse``, totes/local/rehearsal.py): end to end, and each bad input stopping it
with one line, nothing left running and the local stack untouched."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from totes.maintenance import load_maintenance
from totes.settings import REPO_DIR

# Measured on this 2-core machine: about 7 minutes (README, "Deploy rehearsal"); the bound leaves room for a
# busy machine.
REHEARSAL_BOUND_SECONDS = 1200


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _rehearse(*arguments: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "totes.local.rehearsal", *arguments], cwd=REPO_DIR,
                          capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})


def _local_stack_snapshot() -> dict[str, tuple[int, int]]:
    """Every file of the `make run` stack's zones, catalog, state and logs, with its size and modification time."""
    local = REPO_DIR / ".local"
    snapshot = {}
    for folder in ("zones", "catalog", "state", "logs"):
        for path in (local / folder).rglob("*"):
            if path.is_file():
                stat = path.stat()
                snapshot[str(path)] = (stat.st_size, stat.st_mtime_ns)
    return snapshot


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _stderr_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("rehearse: ")]
    assert len(lines) == 1, result.stderr[-3000:]
    return lines[0]


@pytest.mark.slow
@pytest.mark.timeout(REHEARSAL_BOUND_SECONDS + 60)
def test_the_rehearsal_runs_the_deployed_shape_end_to_end_and_leaves_nothing_behind():
    before = _local_stack_snapshot()
    port = _free_port()
    started = time.monotonic()
    result = _rehearse("--port", str(port), timeout=REHEARSAL_BOUND_SECONDS)
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-4000:]
    summary = result.stdout
    assert "names evaluated by   tofu console" in summary
    assert f"http://127.0.0.1:{port} (started by the rehearsal)" in summary
    assert "warehouse = source after the full and the delta workflow: yes" in summary
    # Three jobs twice, then the deliberate failure; each its own process against the standalone master.
    runs = re.findall(r"pid (\d+) +(totesys-dev-\w+) +\S+ exit (\d+)", summary)
    assert [(job, code) for _, job, code in runs] == [
        ("totesys-dev-ingest", "0"), ("totesys-dev-transform", "0"), ("totesys-dev-load", "0"),
        ("totesys-dev-ingest", "0"), ("totesys-dev-transform", "0"), ("totesys-dev-load", "0"),
        ("totesys-dev-load", "1")]
    assert re.search(r"spark master +spark://127\.0\.0\.1:\d+ \(pids \{'master': \d+, 'worker-1': \d+, "
                     r"'worker-2': \d+\}\)", summary)
    assert "totesys-dev-glue-job-failure: delivered 1 event(s), ['FAILED']" in summary
    # The processed zone: every table of the definition an Iceberg table in the Glue catalog, metadata on S3.
    processed_tables = len(load_maintenance().tables)
    assert f"'totesys_dev_ingestion': 11, 'totesys_dev_processed': {processed_tables}" in summary
    assert (f"iceberg tables       {processed_tables} in totesys_dev_processed, metadata under "
            f"s3://totesys-dev-processed-") in summary
    assert "FAILED: ErrorLogLines=1" in summary and "RunsFailed=1" in summary
    # Nothing left running, no temporary folder, the local stack as it was.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    cluster_pids = re.search(r"spark master +\S+ \(pids (\{[^}]*\})\)", summary).group(1)
    started_pids = [int(pid) for pid in re.findall(r"': (\d+)", cluster_pids)] + [int(pid) for pid, _, _ in runs]
    assert not [pid for pid in started_pids if _alive(pid)]
    work_dir = re.search(r"work folder +(\S+)", summary).group(1)
    assert not Path(work_dir).exists()
    assert _local_stack_snapshot() == before
    assert seconds < REHEARSAL_BOUND_SECONDS


def test_an_emulator_that_does_not_answer_stops_it_with_one_line():
    port = _free_port()
    result = _rehearse("--endpoint", f"http://127.0.0.1:{port}")
    assert result.returncode == 1
    assert _stderr_line(result) == (f"rehearse: no AWS API emulator answers at http://127.0.0.1:{port} "
                                    "(`make aws-up` starts one)")


def test_a_port_in_use_stops_it_with_one_line_naming_the_holder():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = _rehearse("--port", str(port))
    assert result.returncode == 1
    line = _stderr_line(result)
    assert line.startswith(f"rehearse: local_aws: port {port} is in use by "), line
    assert f"(pid {os.getpid()})" in line


def test_a_missing_jar_stops_it_with_one_line_naming_the_target_that_fetches_it(tmp_path):
    result = _rehearse("--port", str(_free_port()), env={"TOTES_JARS_DIR": str(tmp_path)})
    assert result.returncode == 1
    line = _stderr_line(result)
    assert line.startswith(f"rehearse: {tmp_path}/") and "missing: `make rehearsal-jars`" in line, line


def test_without_mvn_the_jar_fetch_stops_with_one_line(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "sha256sum", "cut", "mkdir", "rm", "dirname"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    result = subprocess.run([str(REPO_DIR / "scripts" / "fetch_jars.sh"), str(REPO_DIR / "jvm-dependencies-s3a.txt"),
                             str(tmp_path / "jars")], capture_output=True, text=True, env={"PATH": str(bin_dir)},
                            timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "fetch_jars: mvn not found (Debian: apt-get install maven); it fetches org.apache.hadoop:hadoop-aws:3.3.4"]


def test_a_resource_the_emulator_rejects_stops_it_with_one_line_and_stops_the_emulator(monkeypatch, capsys):
    import dataclasses

    from totes.local import rehearsal

    real_shape = rehearsal.deployed_shape

    def with_an_overlong_bucket_name(deployment):
        shape = real_shape(deployment)
        return dataclasses.replace(shape, bucket_names={**shape.bucket_names, "temp": "t" * 64})

    monkeypatch.setattr(rehearsal, "deployed_shape", with_an_overlong_bucket_name)
    monkeypatch.setenv("TOTES_LOG_CONSOLE", "text")
    port = _free_port()
    before = dict(os.environ)
    assert rehearsal.main(["--port", str(port)]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"rehearse: the emulator rejected CreateBucket {'t' * 64}: InvalidBucketName: The specified bucket is "
        "not valid.")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert dict(os.environ) == before


def _descendants(pid: int) -> set[int]:
    found, pending = set(), [pid]
    while pending:
        children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pending.pop())], capture_output=True,
                                  text=True).stdout.split()
        pending += [int(child) for child in children if int(child) not in found]
        found |= {int(child) for child in children}
    return found


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_sigterm_during_a_job_stops_the_job_the_cluster_and_the_emulator():
    port = _free_port()
    rehearsal = subprocess.Popen([sys.executable, "-m", "totes.local.rehearsal", "--port", str(port)],
                                 cwd=REPO_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = []
        for line in rehearsal.stderr:
            seen.append(line)
            if "job run started" in line:
                break
        time.sleep(8)  # the job's driver is up and its Spark application on the cluster
        started = _descendants(rehearsal.pid)
        assert len(started) >= 4, (started, seen)  # master, two workers, the job's driver and its JVM
        rehearsal.send_signal(15)
        _, rest = rehearsal.communicate(timeout=180)
    finally:
        if rehearsal.poll() is None:
            rehearsal.kill()
    assert rehearsal.returncode != 0
    lines = [line for line in rest.splitlines() if line.startswith("rehearse: ")]
    assert lines == ["rehearse: full workflow: totesys-dev-ingest STOPPED: Job run stopped on request (SIGINT/SIGTERM "
                     "to the local runner); its Spark jobs were cancelled"], rest[-3000:]
    assert not [pid for pid in started if _alive(pid)]
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
