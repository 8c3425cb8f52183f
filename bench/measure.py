"""Run a command in its own process and measure it: wall time, peak resident memory of its process tree.

The tree matters: a PySpark job's memory is mostly the JVM, a child of the Python process. psutil samples the
resident set of the process and all its descendants every ``interval`` seconds; the peak is the largest sum seen.
Sampling can miss a spike shorter than the interval, never invents one: the figure is a lower bound of the true
peak, close to it for processes whose heap grows and stays (JVM, pandas).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

SAMPLE_INTERVAL_SECONDS = 0.05


@dataclass
class Measured:
    command: list[str]
    seconds: float
    peak_rss_bytes: int
    returncode: int
    stdout: str = ""
    stderr_tail: str = ""
    result: dict = field(default_factory=dict)  # the JSON a bench entry point printed last, if any

    @property
    def peak_rss_gib(self) -> float:
        return self.peak_rss_bytes / 2**30

    def check(self) -> "Measured":
        if self.returncode != 0:
            raise RuntimeError(f"{' '.join(self.command[:4])} ... exited {self.returncode}:\n{self.stderr_tail}")
        return self


def _tree_rss(process: psutil.Process) -> int:
    total = 0
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for member in members:
        try:
            total += member.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


def run_measured(command: list[str], env: dict[str, str] | None = None, cwd: str | Path | None = None,
                 timeout: float = 3600.0, log_path: Path | None = None) -> Measured:
    """Run ``command``; stdout is kept (bench entry points print one JSON line last), stderr goes to a file."""
    stderr_path = log_path or Path(os.devnull)
    started = time.monotonic()
    with open(stderr_path, "ab") as stderr:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=stderr)
        watched = psutil.Process(process.pid)
        peak = 0
        done = threading.Event()

        def sample():
            nonlocal peak
            while not done.is_set():
                peak = max(peak, _tree_rss(watched))
                done.wait(SAMPLE_INTERVAL_SECONDS)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            stdout, _ = process.communicate(timeout=timeout)
        finally:
            done.set()
            sampler.join()
    seconds = time.monotonic() - started
    text = stdout.decode(errors="replace")
    result = {}
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            try:
                result = json.loads(line)
                break
            except json.JSONDecodeError:
                continue
    tail = ""
    if log_path and log_path.exists():
        tail = log_path.read_text(errors="replace")[-4000:]
    return Measured(command, round(seconds, 3), peak, process.returncode, text, tail, result)


def python_command(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]
