"""The local workflow runner: executes workflow/workflow.json the way a Glue workflow run does.

One run starts at the workflow's start trigger, runs its jobs, then fires every conditional trigger whose
predicate holds on the states reached so far, until nothing more fires. Each job is the very script Glue runs,
executed with ``runpy`` and the job arguments of the definition. All jobs of one run share one local
SparkSession (start-up costs seconds; the scripts' ``SparkContext.getOrCreate()`` picks it up).

Glue's rules, as the runner keeps them:

- **One run at a time**: like a Glue workflow with ``max_concurrent_runs = 1``, a second run while one is
  running is refused (a lock file in the state folder, so a second process is refused too).
- **Retries**: a FAILED job is retried ``max_retries`` times (Glue's MaxRetries), each retry a new job run
  ``<first run id>_attempt_<n>`` as on Glue; a job that still fails stops its branch of the chain.
- **Timeout**: an attempt running longer than the job's ``timeout_minutes`` is stopped and recorded as
  TIMEOUT. Jobs run in-process, so "stopped" means: the attempt's Spark jobs (its job group) are cancelled and
  :class:`JobRunTimeout` is raised into the script's thread. A TIMEOUT is not retried (MaxRetries is "the
  number of times to retry this job after a JobRun fails"; Glue's console help adds that runs reaching the
  timeout are not restarted) and stops the chain.
- **Stop**: a stop request (Ctrl-C, SIGTERM; see :class:`StopRequest`) ends the running attempt the same way;
  it is recorded as STOPPED, as Glue's BatchStopJobRun leaves it, and nothing after it starts.

Every attempt is recorded in ``job_runs.jsonl`` in Glue's GetJobRun shape, plus the rows in and out per table
read from the run's committed manifest; every workflow run in ``workflow_runs.jsonl`` (GetWorkflowRun shape).
Every attempt that ends is published as an EventBridge "Glue Job State Change" event (``totes.local.alerts``),
and its data-quality report (``Quality``) alerts when its quarantine share is above the job's
``--max-quarantine-share``, as the CloudWatch alarm does on AWS.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import fcntl
import json
import logging
import os
import runpy
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

from totes import logs, settings
from totes.local.job_states import COMPLETED, FAILED, RUNNING, STOPPED, SUCCEEDED, TIMEOUT
from totes.local.workflow import JobDefinition, Trigger, Workflow, load_workflow, local_workflow_variables
from totes.logs import log_event
from totes.manifests import RunManifest, list_manifests
from totes.transform.quality_report import QUALITY_DETAILS
from totes.zones import ZoneStore

if TYPE_CHECKING:
    from totes.local.alerts import LocalEventBus
    from totes.local.freshness_alarm import LocalFreshnessAlarm

logger = logging.getLogger("totes.local")

RUNNER_LOG_NAME = "local-workflow"
LOCAL_STATE_DIR = settings.LOCAL_DIR / "state"  # job and workflow run records, events, the workflow lock
# How long an interrupted script may take to unwind before the runner gives up waiting for it.
DEFAULT_STOP_GRACE_SECONDS = 30.0
# How often the freshness rule is evaluated while a job runs (a job that hangs breaks the promise meanwhile).
FRESHNESS_CHECK_SECONDS = 60.0
_POLL_SECONDS = 0.05


class WorkflowAlreadyRunningError(RuntimeError):
    """Another local workflow run holds the lock; Glue refuses a run beyond max_concurrent_runs too."""


class JobRunInterrupted(BaseException):
    """Raised into a job's thread to end it.

    A BaseException, like SystemExit, so that a script's own ``except Exception`` handlers do not swallow
    it: on Glue nothing in the script survives the job being stopped either.
    """

    state = STOPPED


class JobRunTimeout(JobRunInterrupted):
    state = TIMEOUT


class JobRunStopped(JobRunInterrupted):
    state = STOPPED


@dataclass
class JobRun:
    """One attempt of one job, shaped like Glue's GetJobRun answer (plus rows per table, a local extra)."""

    Id: str
    JobName: str
    Attempt: int
    StartedOn: str
    CompletedOn: str | None = None
    JobRunState: str = RUNNING
    ErrorMessage: str | None = None
    ExecutionTime: float = 0.0
    WorkflowRunId: str | None = None
    Arguments: dict = field(default_factory=dict)
    # Fields added later are optional, so that records written before them still load.
    TriggerName: str | None = None
    PreviousRunId: str | None = None
    Timeout: float | None = None  # minutes, as GetJobRun
    ManifestRunId: str | None = None  # the run id of the (last) manifest the run committed
    RowsIn: dict[str, int] | None = None  # per table, see rows_in()
    RowsOut: dict[str, int] | None = None  # per table, see rows_out()
    OutputDetails: dict[str, dict] | None = None  # per table: the scalar TableOutput.details
    Quality: dict[str, dict] | None = None  # per fact table: the data-quality report of a transformation run

    @classmethod
    def from_dict(cls, data: dict) -> "JobRun":
        known = {item.name for item in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})


@dataclass
class WorkflowRun:
    """One run of the workflow, shaped like Glue's GetWorkflowRun answer."""

    Name: str
    WorkflowRunId: str
    StartedOn: str
    CompletedOn: str | None = None
    Status: str = RUNNING  # RUNNING | COMPLETED | STOPPED, as Glue's WorkflowRunStatus
    TriggerName: str | None = None
    Statistics: dict = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        """Glue calls a run COMPLETED even when jobs failed; a good run is one whose every job succeeded."""
        stats = self.Statistics
        return (self.Status == COMPLETED and stats.get("TotalActions", 0) > 0
                and stats.get("SucceededActions") == stats.get("TotalActions"))

    @classmethod
    def from_dict(cls, data: dict) -> "WorkflowRun":
        known = {item.name for item in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})


def new_job_run_id() -> str:
    return "jr_" + secrets.token_hex(16)


def attempt_run_id(first_run_id: str, attempt: int) -> str:
    """Glue names a retry after the first attempt: ``jr_..._attempt_1``."""
    return first_run_id if attempt == 0 else f"{first_run_id}_attempt_{attempt}"


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


class _JsonLinesLog:
    """Append-only JSON lines; a record written again (same key) replaces the earlier one when read."""

    def __init__(self, path: Path, record_type, key: str):
        self.path = path
        self._record_type = record_type
        self._key = key

    def append(self, record) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as handle:
            handle.write(json.dumps(asdict(record)) + "\n")

    def records(self) -> list:
        if not self.path.exists():
            return []
        latest = {}  # keeps the position of the first record of a key: runs stay in start order
        for line in self.path.read_text().splitlines():
            if line.strip():
                record = self._record_type.from_dict(json.loads(line))
                latest[getattr(record, self._key)] = record
        return list(latest.values())


class JobRunLog(_JsonLinesLog):
    """Job runs under the local state folder: the local stand-in for Glue's job run history.

    A run is written when it starts (RUNNING) and again when it ends; reading keeps the newest record.
    """

    def __init__(self, path: Path):
        super().__init__(path, JobRun, "Id")

    def runs(self) -> list[JobRun]:
        return self.records()


class WorkflowRunLog(_JsonLinesLog):
    def __init__(self, path: Path):
        super().__init__(path, WorkflowRun, "WorkflowRunId")

    def runs(self) -> list[WorkflowRun]:
        return self.records()


def lock_path(state_dir: Path, workflow_name: str) -> Path:
    return state_dir / f"{workflow_name}.lock"


@contextlib.contextmanager
def workflow_lock(state_dir: Path, workflow_name: str, refusal: str):
    """Hold the lock a workflow run holds (in any process), or raise WorkflowAlreadyRunningError(refusal)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_path(state_dir, workflow_name), "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WorkflowAlreadyRunningError(refusal) from None
        yield


def workflow_is_running(state_dir: Path, workflow_name: str) -> bool:
    """Whether a runner (in any process) holds the workflow's lock right now."""
    path = lock_path(state_dir, workflow_name)
    if not path.exists():
        return False
    with open(path, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(lock, fcntl.LOCK_UN)
    return False


@dataclass
class WorkflowRunResult:
    workflow_run_id: str
    job_runs: list[JobRun]
    states: dict[str, str]
    stopped: bool = False

    @property
    def succeeded(self) -> bool:
        finished = bool(self.states) and not self.stopped
        return finished and all(state == SUCCEEDED for state in self.states.values())


class StopRequest:
    """A request to stop, from Ctrl-C, SIGTERM or a caller.

    The first request only stops new work: with ``finish_current_run`` (the schedule) the running workflow
    run goes on to its end and no other starts; without it (a single ``make run``) the first request already
    stops the running job. A further request stops the running job now: the runner cancels its Spark jobs,
    ends its script and records it as STOPPED. A job is never left half-way without a record.
    """

    def __init__(self, finish_current_run: bool = True):
        self.no_new_runs = threading.Event()
        self.stop_job = threading.Event()
        self._finish_current_run = finish_current_run
        self._previous_handlers: dict[int, object] = {}

    def request(self, reason: str = "stop requested") -> None:
        if self._finish_current_run and not self.no_new_runs.is_set():
            self.no_new_runs.set()
            log_event(logger, f"{reason}: no new workflow run starts; a running one finishes first "
                              "(stop again to stop its running job now)", logging.WARNING)
            return
        self.stop_now(reason)

    def stop_now(self, reason: str = "stop requested") -> None:
        self.no_new_runs.set()
        if not self.stop_job.is_set():
            self.stop_job.set()
            log_event(logger, f"{reason}: stopping the running job now; it is recorded as STOPPED",
                      logging.WARNING)

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True as soon as a stop was requested."""
        return self.no_new_runs.wait(max(0.0, seconds))

    def _handle(self, signum, _frame) -> None:
        self.request(f"received {signal.Signals(signum).name}")

    def install_signal_handlers(self) -> None:
        """Route SIGINT and SIGTERM here; call again after a SparkContext starts (PySpark takes SIGINT)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous = signal.signal(signum, self._handle)
            self._previous_handlers.setdefault(signum, previous)

    def restore_signal_handlers(self) -> None:
        for signum, previous in self._previous_handlers.items():
            signal.signal(signum, previous)
        self._previous_handlers.clear()

    @contextlib.contextmanager
    def signals_handled(self):
        self.install_signal_handlers()
        try:
            yield self
        finally:
            self.restore_signal_handlers()


def _active_spark_context():
    """The running SparkContext, if this process has one (without importing pyspark when it has none)."""
    context_module = sys.modules.get("pyspark.context")
    if context_module is None:
        return None
    return context_module.SparkContext._active_spark_context


class _JobThread(threading.Thread):
    """Runs one attempt's script; the outcome is whatever the script raised, or nothing."""

    def __init__(self, run_script, script: Path, argv: list[str], job_group: str, description: str):
        super().__init__(name=f"job-{job_group}", daemon=True)
        self._run_script, self._script, self._argv = run_script, script, argv
        self.job_group, self._description = job_group, description
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            try:
                spark_context = _active_spark_context()
                if spark_context is not None:
                    # Named in the Spark UI after the job run, and cancellable as one group on timeout.
                    spark_context.setJobGroup(self.job_group, self._description, interruptOnCancel=True)
                self._run_script(self._script, self._argv)
            except SystemExit as error:
                if error.code not in (None, 0):  # Glue reports a script's sys.exit(1) as "SystemExit: 1"
                    self.error = error
            except BaseException as error:  # noqa: BLE001 - whatever the script raised is the run's outcome
                self.error = error
        except JobRunInterrupted:
            pass  # the interruption arrived after the script had ended; the runner has decided the state

    def interrupt(self, exception_type: type[JobRunInterrupted]) -> None:
        """Raise ``exception_type`` in the thread at its next Python instruction (a C call finishes first)."""
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self.ident),
                                                   ctypes.py_object(exception_type))


def zone_uris(job: JobDefinition) -> list[str]:
    """The zones a job reads and writes: its ``--*-zone`` arguments."""
    return [value for key, value in job.arguments.items() if key.endswith("-zone")]


def committed_manifests(job: JobDefinition, job_run: JobRun) -> list[RunManifest]:
    """The manifests the job run committed, in run order, found by its Glue job run id in the job's zones.

    Mostly one; an ingestion job run that reconciled first committed two: the reconciliation, then the delta.
    """
    # Manifest run ids sort by time: only those started after the job run can be its own.
    after = dt.datetime.fromisoformat(job_run.StartedOn).strftime("%Y%m%dT%H%M%S")
    own = [manifest for uri in zone_uris(job)
           for manifest in list_manifests(ZoneStore.for_uri(uri), job.name, after_run_id=after)
           if manifest.glue_job_run_id == job_run.Id]
    return sorted(own, key=lambda manifest: manifest.run_id)


def input_manifests(job: JobDefinition, manifest: RunManifest) -> list[RunManifest]:
    """The upstream manifests a run lists as its inputs, looked up in the job's zones, in run order."""
    wanted = set(manifest.inputs)
    found = {}
    for uri in zone_uris(job):
        store = ZoneStore.for_uri(uri)
        for key in store.list_keys("_manifests/"):
            run_id = key.rsplit("/", 1)[-1].removesuffix(".json")
            if run_id in wanted and run_id not in found:
                found[run_id] = RunManifest.from_json(store.read_text(key))
    return [found[run_id] for run_id in sorted(found)]


def rows_out(manifest: RunManifest) -> dict[str, int]:
    """Rows per table a run wrote: the manifest's rows, but none where it left the table ``unchanged``.

    (A manifest repeats the size of a snapshot it did not rewrite; that is not output of this run.)
    """
    return {name: 0 if output.details.get("status") == "unchanged" else output.rows
            for name, output in manifest.tables.items()}


def rows_in(manifest: RunManifest, inputs: list[RunManifest], reads_external_source: bool) -> dict[str, int]:
    """Rows per table a run consumed: what the upstream runs it lists as inputs wrote.

    Outputs an upstream run left ``unchanged`` (it wrote nothing new for them) do not count; the others add up
    over the inputs (every job's outputs are the rows it added). A job that lists no inputs and is started by
    the schedule reads an external source (the ingestion job): its rows in are the rows it read, which are the
    rows it wrote.
    """
    if not inputs:
        return rows_out(manifest) if reads_external_source else {}
    totals: dict[str, int] = {}
    for upstream in inputs:
        for name, output in upstream.tables.items():
            if output.details.get("status") == "unchanged":
                continue
            totals[name] = totals.get(name, 0) + output.rows
    return totals


def _added(counts: list[dict[str, int]]) -> dict[str, int]:
    """Rows per table over the runs one job run committed (a reconciliation's re-ingested, a delta's)."""
    totals: dict[str, int] = {}
    for per_table in counts:
        for name, rows in per_table.items():
            totals[name] = totals.get(name, 0) + rows
    return totals


def _scalar_details(details: dict) -> dict:
    return {key: value for key, value in details.items() if isinstance(value, (str, int, float, bool))}


def _predicate_holds(trigger: Trigger, states: dict[str, str]) -> bool:
    results = [states.get(job_key) == state for job_key, state in trigger.conditions]
    return any(results) if trigger.logical == "ANY" else all(results)


def _first_line(text: str, limit: int = 300) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _describe_seconds(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        minutes = int(seconds // 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds:g} s"


class LocalWorkflowRunner:
    """Runs the workflow definition on this machine, as a Glue workflow run would.

    ``timeout_seconds`` overrides the definition's ``timeout_minutes`` (one value for every job, or a mapping
    by job key or job name), for tests and demos. ``session`` is called with the workflow run id once the
    run holds the lock and returns a context manager around the run (the CLI starts the shared SparkSession
    there). ``event_bus`` receives every job run that ends (alerts). ``freshness_alarm`` is evaluated after
    every workflow run and while a job runs (``totes.local.freshness_alarm``).
    """

    def __init__(self, workflow: Workflow, state_dir: Path = LOCAL_STATE_DIR,
                 run_script=run_job_script, *, event_bus: LocalEventBus | None = None,
                 timeout_seconds: float | dict[str, float] | None = None, stop: StopRequest | None = None,
                 session: Callable[[str], contextlib.AbstractContextManager] | None = None,
                 stop_grace_seconds: float = DEFAULT_STOP_GRACE_SECONDS,
                 freshness_alarm: LocalFreshnessAlarm | None = None):
        self.workflow = workflow
        self.state_dir = state_dir
        self.run_script = run_script
        self.event_bus = event_bus
        self.timeout_seconds = timeout_seconds
        self.stop = stop or StopRequest(finish_current_run=False)
        self.session = session
        self.stop_grace_seconds = stop_grace_seconds
        self.job_run_log = JobRunLog(state_dir / "job_runs.jsonl")
        self.workflow_run_log = WorkflowRunLog(state_dir / "workflow_runs.jsonl")
        self._abandoned: list[tuple[str, threading.Thread]] = []
        self.freshness_alarm = freshness_alarm
        self._freshness_checked = time.monotonic()

    @contextlib.contextmanager
    def _exclusive(self):
        self._abandoned = [(run_id, thread) for run_id, thread in self._abandoned if thread.is_alive()]
        if self._abandoned:
            raise WorkflowAlreadyRunningError(
                f"job run {self._abandoned[0][0]} was stopped but its script has not ended yet; "
                f"workflow {self.workflow.name} does not start again until it has"
            )
        with workflow_lock(self.state_dir, self.workflow.name,
                           f"workflow {self.workflow.name} is already running (max_concurrent_runs = "
                           f"{self.workflow.max_concurrent_runs}); this run was not started"):
            yield

    def timeout_of(self, job: JobDefinition) -> float:
        """The job's timeout in seconds: the override if one is given, else ``timeout_minutes``."""
        override = self.timeout_seconds
        if isinstance(override, dict):
            override = override.get(job.key, override.get(job.name))
        return float(override) if override is not None else job.timeout_minutes * 60.0

    def run(self) -> WorkflowRunResult:
        with self._exclusive():
            workflow_run_id = "wr_" + secrets.token_hex(16)
            start = self.workflow.start_trigger
            workflow_run = WorkflowRun(Name=self.workflow.name, WorkflowRunId=workflow_run_id,
                                       StartedOn=_now(), TriggerName=start.name)
            self.workflow_run_log.append(workflow_run)
            logs.configure(job=RUNNER_LOG_NAME, workflow_run_id=workflow_run_id)
            log_event(logger, "workflow run started", workflow=self.workflow.name,
                      workflow_run_id=workflow_run_id, trigger=start.name)
            states: dict[str, str] = {}
            job_runs: list[JobRun] = []
            cut_short = True
            try:
                with self.session(workflow_run_id) if self.session else contextlib.nullcontext():
                    cut_short = self._run_chain(start, workflow_run_id, states, job_runs)
            finally:
                stopped = self.stop.stop_job.is_set() and (cut_short or STOPPED in states.values())
                result = WorkflowRunResult(workflow_run_id, job_runs, states, stopped)
                workflow_run.CompletedOn = _now()
                workflow_run.Status = STOPPED if stopped else COMPLETED
                workflow_run.Statistics = _statistics(states)
                self.workflow_run_log.append(workflow_run)
                logs.configure(job=RUNNER_LOG_NAME, workflow_run_id=workflow_run_id)
                status = SUCCEEDED if result.succeeded else (STOPPED if stopped else FAILED)
                log_event(logger, "workflow run finished", workflow_run_id=workflow_run_id, status=status,
                          states=states)
                self._check_freshness()
            return result

    def _run_chain(self, start: Trigger, workflow_run_id: str, states: dict[str, str],
                   job_runs: list[JobRun]) -> bool:
        """Run the jobs the triggers fire, in order; True if a stop request left some of them unstarted."""
        fired = {start.name}
        pending = [(job_key, start.name) for job_key in start.actions]
        while pending and not self.stop.stop_job.is_set():
            job_key, trigger_name = pending.pop(0)
            job = self.workflow.jobs[job_key]
            states[job_key] = self._run_with_retries(job, trigger_name, workflow_run_id, job_runs).JobRunState
            for trigger in self.workflow.triggers:
                if (trigger.type == "CONDITIONAL" and trigger.name not in fired
                        and _predicate_holds(trigger, states)):
                    fired.add(trigger.name)
                    pending.extend((action, trigger.name) for action in trigger.actions)
        return bool(pending)

    def _run_with_retries(self, job: JobDefinition, trigger_name: str, workflow_run_id: str,
                          job_runs: list[JobRun]) -> JobRun:
        first_run_id = new_job_run_id()
        previous_run_id = None
        for attempt in range(job.max_retries + 1):
            job_run = self._run_once(job, attempt, attempt_run_id(first_run_id, attempt), previous_run_id,
                                     trigger_name, workflow_run_id)
            job_runs.append(job_run)
            # Glue retries a run that failed; a TIMEOUT or a STOPPED run is not restarted.
            if job_run.JobRunState != FAILED or self.stop.stop_job.is_set():
                break
            if attempt < job.max_retries:
                log_event(logger, "job failed; retrying", logging.WARNING, job_name=job.name,
                          attempt=attempt + 1, max_retries=job.max_retries)
            previous_run_id = job_run.Id
        return job_run

    def _run_once(self, job: JobDefinition, attempt: int, job_run_id: str, previous_run_id: str | None,
                  trigger_name: str, workflow_run_id: str) -> JobRun:
        timeout = self.timeout_of(job)
        argv = job_argv(job, job_run_id, self.workflow.name, workflow_run_id)
        job_run = JobRun(Id=job_run_id, JobName=job.name, Attempt=attempt, StartedOn=_now(),
                         WorkflowRunId=workflow_run_id, Arguments=job.arguments, TriggerName=trigger_name,
                         PreviousRunId=previous_run_id, Timeout=round(timeout / 60.0, 4))
        self.job_run_log.append(job_run)
        log_event(logger, "job run started", job_name=job.name, job_run_id=job_run_id, attempt=attempt,
                  trigger=trigger_name)
        started = time.monotonic()
        thread = _JobThread(self.run_script, job.script, argv, job_run_id,
                            f"{job.name} {job_run_id} (workflow run {workflow_run_id})")
        thread.start()
        interruption, abandoned = self._wait_for(thread, job, job_run_id, started + timeout)
        job_run.ExecutionTime = round(time.monotonic() - started, 3)
        job_run.CompletedOn = _now()
        logs.configure(job=RUNNER_LOG_NAME, workflow_run_id=workflow_run_id)  # the job bound its own context
        if interruption is not None:
            job_run.JobRunState = interruption.state
            job_run.ErrorMessage = self._interruption_message(interruption, job, timeout, thread, abandoned)
        elif thread.error is not None:
            job_run.JobRunState = FAILED
            job_run.ErrorMessage = f"{type(thread.error).__name__}: {thread.error}"
        else:
            job_run.JobRunState = SUCCEEDED
            self._record_outputs(job, job_run)
        self.job_run_log.append(job_run)
        level = logging.INFO if job_run.JobRunState == SUCCEEDED else logging.ERROR
        log_event(logger, "job run finished", level, job_name=job.name, job_run_id=job_run_id,
                  status=job_run.JobRunState, seconds=job_run.ExecutionTime, error=job_run.ErrorMessage)
        if self.event_bus is not None:
            self.event_bus.publish_job_run(job_run, workflow_name=self.workflow.name)
            self.event_bus.publish_quality(job_run, job.arguments)
        return job_run

    def _wait_for(self, thread: _JobThread, job: JobDefinition, job_run_id: str,
                  deadline: float) -> tuple[type[JobRunInterrupted] | None, bool]:
        """Wait for the script to end, stopping it at the deadline or on a stop request."""
        interruption: type[JobRunInterrupted] | None = None
        interrupted_at = 0.0
        while thread.is_alive():
            try:
                thread.join(_POLL_SECONDS)
            except KeyboardInterrupt:  # SIGINT while PySpark's handler is in place instead of ours
                self.stop.stop_now("interrupted")
            if time.monotonic() - self._freshness_checked >= FRESHNESS_CHECK_SECONDS:
                self._check_freshness()
            if interruption is None:
                if time.monotonic() >= deadline:
                    interruption = JobRunTimeout
                elif self.stop.stop_job.is_set():
                    interruption = JobRunStopped
                if interruption is not None:
                    interrupted_at = time.monotonic()
                    what = "timed out" if interruption is JobRunTimeout else "stopped"
                    log_event(logger, f"job run {what}; cancelling its Spark jobs and ending its script",
                              logging.ERROR, job_name=job.name, job_run_id=job_run_id)
                    self._cancel_spark_jobs(job_run_id)
                    thread.interrupt(interruption)
            elif time.monotonic() - interrupted_at > self.stop_grace_seconds:
                self._abandoned.append((job_run_id, thread))
                log_event(logger, "the job's script did not end after the stop; abandoned (it ends with this "
                                  "process)", logging.ERROR, job_name=job.name, job_run_id=job_run_id,
                          seconds=self.stop_grace_seconds)
                return interruption, True
        return interruption, False

    def _check_freshness(self) -> None:
        self._freshness_checked = time.monotonic()
        if self.freshness_alarm is None:
            return
        try:
            self.freshness_alarm.evaluate()
        except (OSError, ValueError, KeyError) as error:
            # An unreadable record must not change the outcome of the run that just ended.
            log_event(logger, "freshness rule not evaluated", logging.ERROR, error=f"{type(error).__name__}: {error}")

    @staticmethod
    def _cancel_spark_jobs(job_group: str) -> None:
        spark_context = _active_spark_context()
        if spark_context is None:
            return
        try:
            spark_context.cancelJobGroup(job_group)
        except Exception as error:  # noqa: BLE001 - the script is ended below whether or not Spark answers
            log_event(logger, "could not cancel the Spark jobs", logging.WARNING, error=str(error))

    def _interruption_message(self, interruption, job: JobDefinition, timeout: float, thread: _JobThread,
                              abandoned: bool) -> str:
        if interruption is JobRunTimeout:
            configured = (f"timeout_minutes {job.timeout_minutes} in the workflow definition"
                          if timeout == job.timeout_minutes * 60.0 else "timeout override")
            message = f"Job run timed out after {_describe_seconds(timeout)} ({configured})"
        else:
            message = "Job run stopped on request (SIGINT/SIGTERM to the local runner)"
        message += "; its Spark jobs were cancelled"
        if abandoned:
            grace = _describe_seconds(self.stop_grace_seconds)
            message += f"; the script did not end within {grace} and was abandoned"
        elif thread.error is not None and not isinstance(thread.error, JobRunInterrupted):
            error = thread.error
            message += f"; the script ended with {type(error).__name__}: {_first_line(str(error))}"
        return message

    def _record_outputs(self, job: JobDefinition, job_run: JobRun) -> None:
        manifests = committed_manifests(job, job_run)
        if not manifests:
            return
        reads_external_source = job_run.TriggerName == self.workflow.start_trigger.name
        # Rows count over every run the job run committed; the last (the delta) names the run and its details.
        manifest = manifests[-1]
        job_run.ManifestRunId = manifest.run_id
        job_run.RowsOut = _added([rows_out(each) for each in manifests])
        job_run.RowsIn = _added([rows_in(each, input_manifests(job, each), reads_external_source)
                                 for each in manifests])
        job_run.OutputDetails = {name: _scalar_details(output.details)
                                 for name, output in manifest.tables.items()}
        job_run.Quality = {name: output.details[QUALITY_DETAILS] for name, output in manifest.tables.items()
                           if QUALITY_DETAILS in output.details} or None


def _statistics(states: dict[str, str]) -> dict:
    """Glue's WorkflowRunStatistics over the final state of each job of the run."""
    counted = list(states.values())
    return {
        "TotalActions": len(counted),
        "SucceededActions": counted.count(SUCCEEDED),
        "FailedActions": counted.count(FAILED),
        "TimeoutActions": counted.count(TIMEOUT),
        "StoppedActions": counted.count(STOPPED),
    }


def default_runner(**options) -> LocalWorkflowRunner:
    """The runner of the project's workflow on the local stack, with failure and freshness alerts into
    ``.local/mail``."""
    from totes.local.alerts import default_event_bus
    from totes.local.freshness_alarm import default_freshness_alarm

    options.setdefault("event_bus", default_event_bus())
    options.setdefault("freshness_alarm", default_freshness_alarm())
    return LocalWorkflowRunner(load_workflow(local_workflow_variables()), **options)


def ensure_log_file() -> str:
    """Keep every local run's JSON log lines in one file (what CloudWatch Logs holds on AWS)."""
    path = os.environ.setdefault("TOTES_LOG_FILE", str(settings.LOCAL_DIR / "logs" / "pipeline.jsonl"))
    return path
