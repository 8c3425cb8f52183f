"""The local workflow runner: executes workflow/workflow.json the way a Glue workflow run does.

One run starts at the workflow's start trigger, runs its jobs, then fires every conditional trigger whose
predicate holds on the states reached so far, until nothing more fires. Each job is the very script Glue runs,
executed with ``runpy`` and the job arguments of the definition; a failed job is retried ``max_retries`` times,
as Glue's MaxRetries, and a job that still fails stops its branch of the chain. All jobs of one run share one
local SparkSession (start-up costs seconds; the scripts' ``SparkContext.getOrCreate()`` picks it up).

Like a Glue workflow with ``max_concurrent_runs = 1``, a second run while one is running is refused.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import runpy
import secrets
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from totes import logs, settings
from totes.local.workflow import JobDefinition, Trigger, Workflow, load_workflow
from totes.logs import log_event

logger = logging.getLogger("totes.local")

SUCCEEDED, FAILED = "SUCCEEDED", "FAILED"
RUNNER_LOG_NAME = "local-workflow"


class WorkflowAlreadyRunningError(RuntimeError):
    """Another local workflow run holds the lock; Glue refuses a run beyond max_concurrent_runs too."""


def local_workflow_variables() -> dict[str, str]:
    """Values of the workflow placeholders on the local stack (Terraform fills the same names on AWS)."""
    return {
        "ingestion_zone_uri": settings.LOCAL_INGESTION_ZONE,
        "processed_zone_uri": settings.LOCAL_PROCESSED_ZONE,
        "source_secret_id": settings.SOURCE_SECRET_ID,
        "warehouse_secret_id": settings.WAREHOUSE_SECRET_ID,
        "ingestion_database": settings.INGESTION_DATABASE,
        "processed_database": settings.PROCESSED_DATABASE,
    }


@dataclass
class JobRun:
    """One attempt of one job, shaped like Glue's GetJobRun answer."""

    Id: str
    JobName: str
    Attempt: int
    StartedOn: str
    CompletedOn: str | None = None
    JobRunState: str = "RUNNING"
    ErrorMessage: str | None = None
    ExecutionTime: float = 0.0
    WorkflowRunId: str | None = None
    Arguments: dict = field(default_factory=dict)


def new_job_run_id() -> str:
    return "jr_" + secrets.token_hex(16)


def job_argv(job: JobDefinition, job_run_id: str, workflow_name: str, workflow_run_id: str) -> list[str]:
    argv = [str(job.script), "--JOB_NAME", job.name, "--JOB_RUN_ID", job_run_id,
            "--WORKFLOW_NAME", workflow_name, "--WORKFLOW_RUN_ID", workflow_run_id]
    for key, value in job.arguments.items():
        argv += [key, value]
    return argv


def run_job_script(script: Path, argv: list[str]) -> None:
    """Run a Glue job script as ``__main__`` with ``argv``, as the Glue runtime does."""
    saved_argv = sys.argv
    sys.argv = argv
    try:
        runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.argv = saved_argv


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


class JobRunLog:
    """Job runs as JSON lines under the local state folder: the local stand-in for Glue's job run history."""

    def __init__(self, path: Path):
        self.path = path

    def append(self, run: JobRun) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as handle:
            handle.write(json.dumps(asdict(run)) + "\n")

    def runs(self) -> list[JobRun]:
        if not self.path.exists():
            return []
        return [JobRun(**json.loads(line)) for line in self.path.read_text().splitlines() if line.strip()]


@dataclass
class WorkflowRunResult:
    workflow_run_id: str
    job_runs: list[JobRun]
    states: dict[str, str]

    @property
    def succeeded(self) -> bool:
        return bool(self.states) and all(state == SUCCEEDED for state in self.states.values())


def _predicate_holds(trigger: Trigger, states: dict[str, str]) -> bool:
    results = [states.get(job_key) == state for job_key, state in trigger.conditions]
    return any(results) if trigger.logical == "ANY" else all(results)


class LocalWorkflowRunner:
    def __init__(self, workflow: Workflow, state_dir: Path = settings.LOCAL_DIR / "state",
                 run_script=run_job_script):
        self.workflow = workflow
        self.state_dir = state_dir
        self.run_script = run_script
        self.job_run_log = JobRunLog(state_dir / "job_runs.jsonl")

    @contextlib.contextmanager
    def _exclusive(self):
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.state_dir / f"{self.workflow.name}.lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise WorkflowAlreadyRunningError(
                    f"workflow {self.workflow.name} is already running (max_concurrent_runs = "
                    f"{self.workflow.max_concurrent_runs}); this run was not started"
                ) from None
            yield

    def run(self) -> WorkflowRunResult:
        with self._exclusive():
            workflow_run_id = "wr_" + secrets.token_hex(16)
            log_event(logger, "workflow run started", workflow=self.workflow.name, workflow_run_id=workflow_run_id)
            states: dict[str, str] = {}
            job_runs: list[JobRun] = []
            fired: set[str] = set()
            pending = list(self.workflow.start_trigger.actions)
            fired.add(self.workflow.start_trigger.name)
            while pending:
                job_key = pending.pop(0)
                final = self._run_with_retries(self.workflow.jobs[job_key], workflow_run_id, job_runs)
                states[job_key] = final.JobRunState
                for trigger in self.workflow.triggers:
                    if trigger.type == "CONDITIONAL" and trigger.name not in fired and _predicate_holds(trigger, states):
                        fired.add(trigger.name)
                        pending.extend(trigger.actions)
            result = WorkflowRunResult(workflow_run_id, job_runs, states)
            log_event(logger, "workflow run finished", workflow_run_id=workflow_run_id,
                      status=SUCCEEDED if result.succeeded else FAILED, states=states)
            return result

    def _run_with_retries(self, job: JobDefinition, workflow_run_id: str, job_runs: list[JobRun]) -> JobRun:
        for attempt in range(job.max_retries + 1):
            job_run = self._run_once(job, attempt, workflow_run_id)
            job_runs.append(job_run)
            if job_run.JobRunState == SUCCEEDED:
                break
            if attempt < job.max_retries:
                log_event(logger, "job failed; retrying", logging.WARNING, job_name=job.name,
                          attempt=attempt + 1, max_retries=job.max_retries)
        return job_run

    def _run_once(self, job: JobDefinition, attempt: int, workflow_run_id: str) -> JobRun:
        job_run_id = new_job_run_id()
        argv = job_argv(job, job_run_id, self.workflow.name, workflow_run_id)
        job_run = JobRun(Id=job_run_id, JobName=job.name, Attempt=attempt, StartedOn=_now(),
                         WorkflowRunId=workflow_run_id, Arguments=job.arguments)
        log_event(logger, "job run started", job_name=job.name, job_run_id=job_run_id, attempt=attempt)
        started = time.monotonic()
        try:
            self.run_script(job.script, argv)
            job_run.JobRunState = SUCCEEDED
        except Exception as error:  # noqa: BLE001 - a failed job is a state of the run, recorded and reported
            job_run.JobRunState = FAILED
            job_run.ErrorMessage = f"{type(error).__name__}: {error}"
        job_run.ExecutionTime = round(time.monotonic() - started, 3)
        job_run.CompletedOn = _now()
        logs.configure(job=RUNNER_LOG_NAME, workflow_run_id=workflow_run_id)  # the job bound its own context
        self.job_run_log.append(job_run)
        level = logging.INFO if job_run.JobRunState == SUCCEEDED else logging.ERROR
        log_event(logger, "job run finished", level, job_name=job.name, job_run_id=job_run_id,
                  status=job_run.JobRunState, seconds=job_run.ExecutionTime, error=job_run.ErrorMessage)
        return job_run


def default_runner() -> LocalWorkflowRunner:
    return LocalWorkflowRunner(load_workflow(local_workflow_variables()))


def ensure_log_file() -> str:
    """Keep every local run's JSON log lines in one file (what CloudWatch Logs holds on AWS)."""
    path = os.environ.setdefault("TOTES_LOG_FILE", str(settings.LOCAL_DIR / "logs" / "pipeline.jsonl"))
    return path
