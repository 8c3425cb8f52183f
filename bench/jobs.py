"""The three Glue job scripts, each run as its own process exactly as the workflow passes its arguments.

The figures per run: wall time of the process (interpreter, JVM start, the job, exit), peak RSS of its process
tree, and from the job's own JSON log lines the time between "job started" and "job succeeded" (the work,
without the Spark start-up) and the per-table events.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench.env import ScaleWorld
from bench.measure import Measured, run_measured
from totes.settings import (
    INGEST_JOB_NAME,
    LOAD_JOB_NAME,
    PROCESSED_CATALOG_SECRET_ID,
    REPO_DIR,
    SOURCE_SECRET_ID,
    TRANSFORM_JOB_NAME,
    WAREHOUSE_SECRET_ID,
)

ENABLE = ["--job-bookmark-option", "job-bookmark-enable"]
# The processed zone's Iceberg catalog of the local stack (totes/iceberg.py).
PROCESSED_CATALOG = ["--processed-catalog", f"jdbc:{PROCESSED_CATALOG_SECRET_ID}"]


@dataclass
class JobRunFigures:
    job: str
    seconds: float  # process wall time
    work_seconds: float | None  # "job started" .. "job succeeded" in the job's log
    peak_rss_bytes: int
    events: list[dict] = field(default_factory=list)

    def events_named(self, message: str) -> list[dict]:
        return [event for event in self.events if event.get("message") == message]

    def first_event_seconds(self, message: str) -> float | None:
        """Seconds from "job started" to the first event ``message`` (for ingestion, "run started" ends the
        schema check and the clock query, the fixed prelude before any table is read)."""
        started, found = self.events_named("job started"), self.events_named(message)
        if not started or not found:
            return None
        return round((_timestamp(found[0]) - _timestamp(started[0])).total_seconds(), 3)

    def to_dict(self) -> dict:
        return {"job": self.job, "seconds": self.seconds, "work_seconds": self.work_seconds,
                "prelude_seconds": self.first_event_seconds("run started"),
                "startup_and_exit_seconds": round(self.seconds - (self.work_seconds or 0.0), 3),
                "peak_rss_bytes": self.peak_rss_bytes, "peak_rss_gib": round(self.peak_rss_bytes / 2**30, 3)}


def _read_events(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def _timestamp(event: dict) -> dt.datetime:
    return dt.datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))


def _work_seconds(events: list[dict]) -> float | None:
    started = [e for e in events if e.get("message") == "job started"]
    ended = [e for e in events if e.get("message") == "job succeeded"]
    if not started or not ended:
        return None
    return round((_timestamp(ended[-1]) - _timestamp(started[0])).total_seconds(), 3)


def run_job(world: ScaleWorld, job: str, script: str, args: list[str], label: str, code_root: Path = REPO_DIR,
            **env_extra: str) -> JobRunFigures:
    log_path = world.path("logs", f"{label}.jsonl")
    log_path.unlink(missing_ok=True)
    measured: Measured = run_measured(
        [sys.executable, str(code_root / "glue_jobs" / script), *args],
        env=world.job_env(label, code_root, **env_extra), cwd=code_root,
        log_path=world.path("logs", f"{label}.stderr"),
    ).check()
    events = _read_events(log_path)
    return JobRunFigures(job, measured.seconds, _work_seconds(events), measured.peak_rss_bytes, events)


def ingest(world: ScaleWorld, label: str, *extra: str, zone: str | None = None, code_root: Path = REPO_DIR,
           **env_extra: str) -> JobRunFigures:
    return run_job(world, INGEST_JOB_NAME, "ingest_totesys.py",
                   ["--JOB_NAME", INGEST_JOB_NAME, "--ingestion-zone", zone or world.ingestion_zone,
                    "--source-secret-id", SOURCE_SECRET_ID, "--catalog-database", "bench_ingestion",
                    *ENABLE, *extra], label, code_root, **env_extra)


def transform(world: ScaleWorld, label: str, processed_zone: str | None = None,
              catalog_database: str = "bench_processed", code_root: Path = REPO_DIR, **env_extra: str) -> JobRunFigures:
    return run_job(world, TRANSFORM_JOB_NAME, "transform_totesys.py",
                   ["--JOB_NAME", TRANSFORM_JOB_NAME, "--ingestion-zone", world.ingestion_zone,
                    "--processed-zone", processed_zone or world.processed_zone, "--catalog-database",
                    catalog_database, *PROCESSED_CATALOG, *ENABLE], label, code_root, **env_extra)


def load(world: ScaleWorld, label: str, **env_extra: str) -> JobRunFigures:
    return run_job(world, LOAD_JOB_NAME, "load_warehouse.py",
                   ["--JOB_NAME", LOAD_JOB_NAME, "--processed-zone", world.processed_zone,
                    "--warehouse-secret-id", WAREHOUSE_SECRET_ID, "--catalog-database", "bench_processed",
                    *PROCESSED_CATALOG, *ENABLE], label, **env_extra)
