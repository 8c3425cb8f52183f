"""A Spark standalone cluster on loopback from the pyspark package: one master and N worker processes.

The deploy rehearsal runs the jobs against it instead of ``local[*]``: on Glue the executors are other machines
than the driver, so whatever only works inside one process (modules the driver imported from the checkout, jars
on the driver's class path only, files written to the driver's disk) fails here as it would there. Every
process is started with a clean environment: no PYTHONPATH, so an executor imports only what the job ships.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path


class ClusterError(RuntimeError):
    """The cluster did not come up; the message says which process and where its log is."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


@dataclass
class SparkCluster:
    """``with SparkCluster(work_dir) as cluster:`` starts master and workers, ``cluster.master_url`` is the URL
    to give the drivers; leaving the block stops every process it started."""

    work_dir: Path
    workers: int = 2
    cores_per_worker: int = 1
    memory_per_worker: str = "2g"
    python: str = sys.executable
    start_timeout_seconds: float = 90.0
    master_url: str = ""
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def _environment(self) -> dict[str, str]:
        keep = ("PATH", "HOME", "LANG", "JAVA_HOME", "TMPDIR")
        env = {key: os.environ[key] for key in keep if key in os.environ}
        env.update({
            "SPARK_HOME": str(spark_home()),
            "SPARK_LOCAL_IP": "127.0.0.1",
            "SPARK_LOG_DIR": str(self.work_dir / "logs"),
            "SPARK_NO_DAEMONIZE": "1",
            "PYSPARK_PYTHON": self.python,
            "TZ": "UTC",
            # The daemons' own heap; the executors get theirs from the application.
            "SPARK_DAEMON_MEMORY": "512m",
        })
        return env

    def _start(self, name: str, arguments: list[str]) -> None:
        log_path = self.work_dir / "logs" / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("w") as log:
            self.processes[name] = subprocess.Popen(
                [str(spark_home() / "bin" / "spark-class"), *arguments], stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, env=self._environment(), cwd=self.work_dir, start_new_session=True)

    def _status(self, ui_port: int) -> dict | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=2) as response:
                return json.load(response)
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def start(self) -> "SparkCluster":
        started = time.monotonic()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        port, ui_port = free_port(), free_port()
        self.master_url = f"spark://127.0.0.1:{port}"
        self._start("master", ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
                               "--webui-port", str(ui_port)])
        for number in range(1, self.workers + 1):
            work = self.work_dir / f"worker-{number}"
            self._start(f"worker-{number}", [
                "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--cores", str(self.cores_per_worker),
                "--memory", self.memory_per_worker, "--work-dir", str(work), "--webui-port", str(free_port()),
                self.master_url])
        deadline = time.monotonic() + self.start_timeout_seconds
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise ClusterError(f"Spark {name} exited with {process.returncode} at start "
                                       f"(log {self.work_dir / 'logs' / (name + '.log')})")
            status = self._status(ui_port)
            if status and status.get("aliveworkers", 0) >= self.workers:
                return self
            time.sleep(0.5)
        raise ClusterError(f"the Spark master at {self.master_url} had not {self.workers} workers alive within "
                           f"{self.start_timeout_seconds:g} s (logs in {self.work_dir / 'logs'})")

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def pids(self) -> dict[str, int]:
        return {name: process.pid for name, process in self.processes.items()}

    def __enter__(self) -> "SparkCluster":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *_exc) -> None:
        self.stop()
