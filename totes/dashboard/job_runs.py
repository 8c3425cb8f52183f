"""Recent job runs and data freshness, from wherever the runs are recorded.

The warehouse holds no job runs. They come from a :class:`JobRunSource`:

- :class:`LocalJobRunLog`: the local runner's ``job_runs.jsonl`` (records shaped like Glue's GetJobRun, a run
  written when it starts and again when it ends; the newest record of a run id wins). Fields may be missing or
  extra: records of older and newer runner versions both load;
- :class:`GlueJobRuns`: Glue's ``GetJobRuns`` for the workflow's jobs (names from ``workflow/workflow.json``).
  Glue records no row counts, so on AWS the rows are unknown ("-").

Freshness, as the page states it: the time since the last SUCCEEDED run of the load job (the end of the
workflow), and, from the warehouse itself, the newest ``last_updated`` among the fact rows.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from totes import settings
from totes.local.job_states import FAILED_STATES, RUNNING, SUCCEEDED
from totes.local.workflow import WORKFLOW_FILE, load_workflow, local_workflow_variables
from totes.logs import log_event

logger = logging.getLogger("totes.dashboard")

DEFAULT_LIMIT = 50  # runs per job


class JobRunSourceError(RuntimeError):
    """The job runs cannot be read; the message says from where and why."""


@dataclass(frozen=True)
class JobRunRecord:
    """One attempt of one job, with only what the page shows."""

    run_id: str
    job_name: str
    state: str
    started_on: dt.datetime | None  # UTC
    completed_on: dt.datetime | None
    execution_seconds: float | None
    attempt: int = 0
    trigger_name: str | None = None
    error_message: str | None = None
    rows_in: dict[str, int] | None = None  # per table; None where the source does not record rows (Glue)
    rows_out: dict[str, int] | None = None
    quality: dict[str, dict] | None = None  # per fact table: a transformation run's data-quality report (local)

    def duration_seconds(self, now: dt.datetime) -> float | None:
        if self.state == RUNNING and self.started_on is not None:
            return max(0.0, (now - self.started_on).total_seconds())
        return self.execution_seconds

    @property
    def failed(self) -> bool:
        return self.state in FAILED_STATES

    @staticmethod
    def total(counts: dict[str, int] | None) -> int | None:
        return sum(counts.values()) if counts is not None else None


class JobRunSource(Protocol):
    def describe(self) -> str:
        """Where the runs come from, for the page."""

    def recent_runs(self, limit: int = DEFAULT_LIMIT) -> list[JobRunRecord]:
        """The newest runs first, at most ``limit`` per job."""


def _timestamp(value) -> dt.datetime | None:
    """A UTC datetime from an ISO string or a datetime; naive values are UTC (the runner and Glue's)."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        moment = value
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value))
        except ValueError:
            return None
    return (
        moment.replace(tzinfo=dt.timezone.utc)
        if moment.tzinfo is None
        else moment.astimezone(dt.timezone.utc)
    )


def _number(value) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _counts(value) -> dict[str, int] | None:
    if not isinstance(value, dict):
        return None
    return {str(table): int(rows) for table, rows in value.items() if isinstance(rows, (int, float))}


def record_from_glue_shape(data: dict) -> JobRunRecord | None:
    """A record from one GetJobRun-shaped dict (local log or boto3); None without an id or job name."""
    run_id, job_name = data.get("Id"), data.get("JobName")
    if not run_id or not job_name:
        return None
    try:
        attempt = int(data.get("Attempt") or 0)
    except (TypeError, ValueError):
        attempt = 0
    return JobRunRecord(
        run_id=str(run_id),
        job_name=str(job_name),
        state=str(data.get("JobRunState") or "UNKNOWN"),
        started_on=_timestamp(data.get("StartedOn")),
        completed_on=_timestamp(data.get("CompletedOn")),
        execution_seconds=_number(data.get("ExecutionTime")),
        attempt=attempt,
        trigger_name=data.get("TriggerName"),
        error_message=data.get("ErrorMessage"),
        rows_in=_counts(data.get("RowsIn")),
        rows_out=_counts(data.get("RowsOut")),
        quality=data.get("Quality") if isinstance(data.get("Quality"), dict) else None,
    )


def _newest_first(runs: list[JobRunRecord], limit: int) -> list[JobRunRecord]:
    oldest = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    ordered = sorted(runs, key=lambda run: run.started_on or oldest, reverse=True)
    kept: list[JobRunRecord] = []
    per_job: dict[str, int] = {}
    for run in ordered:
        per_job[run.job_name] = per_job.get(run.job_name, 0) + 1
        if per_job[run.job_name] <= limit:
            kept.append(run)
    return kept


class LocalJobRunLog:
    """The local runner's job run log (JSON lines). A missing file means no runs yet."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def describe(self) -> str:
        return f"local job run log {self.path}"

    def recent_runs(self, limit: int = DEFAULT_LIMIT) -> list[JobRunRecord]:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return []
        except OSError as error:
            raise JobRunSourceError(f"cannot read the job run log {self.path}: {error.strerror}") from None
        latest: dict[str, JobRunRecord] = {}
        skipped = 0
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError:  # e.g. a line cut short by a killed writer
                skipped += 1
                continue
            record = record_from_glue_shape(data) if isinstance(data, dict) else None
            if record is None:
                skipped += 1
                continue
            latest[record.run_id] = record
        if skipped:
            log_event(
                logger, "job run log lines skipped", logging.WARNING, path=str(self.path), lines=skipped
            )
        return _newest_first(list(latest.values()), limit)


def workflow_job_names(name_prefix: str = settings.LOCAL_NAME_PREFIX, path: Path = WORKFLOW_FILE) -> dict[str, str]:
    """The Glue job name of each job of the workflow definition, for one environment's ``name_prefix`` (the
    ``<project>-<environment>`` Terraform gives the jobs, e.g. ``totesys-dev``; locally ``totesys``)."""
    workflow = load_workflow({**local_workflow_variables(), "name_prefix": name_prefix}, path)
    return {key: job.name for key, job in workflow.jobs.items()}


class GlueJobRuns:
    """Glue's job run history of the workflow's jobs (``GetJobRuns``, newest first, one page per job)."""

    def __init__(self, job_names: list[str] | None = None, client=None, region_name: str | None = None):
        self.job_names = job_names if job_names is not None else list(workflow_job_names().values())
        if client is None:
            import boto3

            client = boto3.client("glue", region_name=region_name)
        self.client = client

    def describe(self) -> str:
        return f"AWS Glue job runs of {', '.join(self.job_names)}"

    def recent_runs(self, limit: int = DEFAULT_LIMIT) -> list[JobRunRecord]:
        from botocore.exceptions import BotoCoreError, ClientError

        runs: list[JobRunRecord] = []
        for job_name in self.job_names:
            try:
                # GetJobRuns answers newest first; one page of up to 200 covers the page's window.
                response = self.client.get_job_runs(JobName=job_name, MaxResults=min(max(limit, 1), 200))
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "unknown")
                if code == "EntityNotFoundException":
                    raise JobRunSourceError(
                        f"Glue has no job {job_name!r} (workflow/workflow.json names it)"
                    ) from None
                raise JobRunSourceError(f"cannot read the Glue job runs of {job_name}: {code}") from None
            except BotoCoreError as error:
                raise JobRunSourceError(
                    f"cannot reach Glue for the job runs of {job_name}: {error}"
                ) from None
            runs += [record for record in map(record_from_glue_shape, response.get("JobRuns", [])) if record]
        return _newest_first(runs, limit)


def job_run_source(job_runs: str, name_prefix: str = settings.LOCAL_NAME_PREFIX) -> JobRunSource:
    """``"glue"`` for Glue (the jobs of the environment ``name_prefix`` names), otherwise the path of a local
    job run log."""
    if job_runs == "glue":
        return GlueJobRuns(list(workflow_job_names(name_prefix).values()))
    return LocalJobRunLog(job_runs)


@dataclass(frozen=True)
class Freshness:
    last_successful_load: JobRunRecord | None

    def age(self, now: dt.datetime) -> dt.timedelta | None:
        run = self.last_successful_load
        if run is None or run.completed_on is None:
            return None
        return now - run.completed_on


def freshness(runs: list[JobRunRecord], load_job_name: str) -> Freshness:
    """The newest SUCCEEDED run of the load job: the last time new data reached the warehouse."""
    loads = [
        run for run in runs if run.job_name == load_job_name and run.state == SUCCEEDED and run.completed_on
    ]
    return Freshness(max(loads, key=lambda run: run.completed_on) if loads else None)


def format_age(age: dt.timedelta | None) -> str:
    """'42 s', '7 min', '3 h 5 min', '2 d 4 h'; 'never' for no age."""
    if age is None:
        return "never"
    seconds = int(age.total_seconds())
    if seconds < 0:
        return "in the future (clock skew?)"
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"
