"""Schedule mode: the workflow's SCHEDULED trigger, on this machine (``python -m totes.local schedule``).

Timing: the first run starts at once; later runs start on the boundaries of the interval counted in Unix time
from 00:00 UTC. With the default 900 s those are :00, :15, :30 and :45 of every hour, the times of the
trigger's ``cron(0/15 * * * ? *)``; any interval that divides an hour keeps to the same clock pattern. A
boundary that passes while a run is still going is skipped, not queued: the workflow allows one concurrent run
(Glue refuses that start too) and the next run picks up what the skipped one would have read. A run refused
because another process holds the workflow (``make run`` meanwhile) is logged and the schedule goes on.

Activity: with ``--simulate``, the change simulator adds new orders and paid payments to the local source
after each run, so the following runs have a delta to carry through.

Table maintenance: after a run, when the last maintenance of the processed zone's Iceberg tables finished
``every_hours`` ago or more (or never did), it runs (``totes.maintenance``: the workflow definition's
``maintenance``, which on AWS the Glue table optimizers follow), holding the workflow's lock, so that its commits
never meet the transformation's.

Stopping: Ctrl-C or SIGTERM during a wait ends the schedule at once; during a run, that run finishes and no
other starts, and a second Ctrl-C stops its running job (recorded as STOPPED, which alerts). ``--cycles N``
ends the schedule after N runs.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from totes.local.runner import StopRequest, WorkflowAlreadyRunningError, WorkflowRunResult, lock_path
from totes.logs import log_event
from totes.secrets import DatabaseCredentials

logger = logging.getLogger("totes.local")

DEFAULT_INTERVAL_SECONDS = 900.0


def next_boundary(now: float, interval_seconds: float) -> float:
    """The first multiple of the interval (in Unix seconds) strictly after ``now``."""
    return (math.floor(now / interval_seconds) + 1) * interval_seconds


@dataclass
class ScheduleResult:
    results: list[WorkflowRunResult] = field(default_factory=list)
    refused: int = 0  # cycles whose start found the workflow running elsewhere
    skipped_boundaries: int = 0  # boundaries that passed during a run
    stopped: bool = False  # ended by a stop request rather than by --cycles

    @property
    def succeeded(self) -> bool:
        return all(result.succeeded for result in self.results)


class Schedule:
    """Starts ``run_once`` on the interval's boundaries until ``cycles`` runs have started or a stop."""

    def __init__(self, run_once: Callable[[], WorkflowRunResult],
                 interval_seconds: float = DEFAULT_INTERVAL_SECONDS, cycles: int | None = None,
                 stop: StopRequest | None = None,
                 activity: Callable[[int], None] | None = None, clock: Callable[[], float] = time.time):
        if not interval_seconds > 0:
            raise ValueError(f"the interval must be positive, got {interval_seconds}")
        if cycles is not None and cycles < 1:
            raise ValueError(f"cycles must be at least 1, got {cycles}")
        self.run_once = run_once
        self.interval_seconds = float(interval_seconds)
        self.cycles = cycles
        self.stop = stop or StopRequest(finish_current_run=True)
        self.activity = activity
        self.clock = clock

    def run(self) -> ScheduleResult:
        outcome = ScheduleResult()
        started = 0
        next_start = self.clock()
        while self.cycles is None or started < self.cycles:
            if self.stop.wait(next_start - self.clock()):
                break
            started += 1
            run_started = self.clock()
            log_event(logger, "scheduled workflow run starting", cycle=started, cycles=self.cycles,
                      interval_seconds=self.interval_seconds)
            try:
                outcome.results.append(self.run_once())
            except WorkflowAlreadyRunningError as error:
                outcome.refused += 1
                log_event(logger, "scheduled run refused; waiting for the next boundary", logging.WARNING,
                          error=str(error))
            if (self.cycles is not None and started >= self.cycles) or self.stop.no_new_runs.is_set():
                break
            if self.activity is not None:
                self.activity(started)
            now = self.clock()
            missed = math.floor(now / self.interval_seconds) - math.floor(run_started / self.interval_seconds)
            if missed > 0:
                outcome.skipped_boundaries += missed
                log_event(logger, f"{missed} schedule boundary(ies) passed during the run and are skipped "
                                  "(one concurrent run, as the workflow's max_concurrent_runs)",
                          logging.WARNING)
            next_start = next_boundary(now, self.interval_seconds)
            at = time.strftime("%H:%M:%S", time.gmtime(next_start))
            log_event(logger, f"next scheduled run at {at} UTC", seconds=round(next_start - now, 1))
        outcome.stopped = self.stop.no_new_runs.is_set()
        succeeded = sum(result.succeeded for result in outcome.results)
        log_event(logger, f"schedule ended: {len(outcome.results)} run(s), {succeeded} succeeded, "
                          f"{outcome.refused} refused, {outcome.skipped_boundaries} boundary(ies) skipped"
                          + ("; stopped on request" if outcome.stopped else ""))
        return outcome


def source_activity(credentials: DatabaseCredentials, seed: int | None = None) -> Callable[[int], None]:
    """Activity between runs: the change simulator against the source, as ``make simulate`` runs it."""
    import psycopg

    from totes.source.database import connect
    from totes.source.simulator import SourceNotSeededError, simulate

    base_seed = seed if seed is not None else secrets.randbelow(2**31)

    def activity(cycle: int) -> None:
        try:
            with connect(credentials) as conn:
                result = simulate(conn, base_seed + cycle)
        except (psycopg.Error, SourceNotSeededError) as error:
            # Activity is a demo aid: without it the next run simply finds nothing new.
            log_event(logger, "simulated activity failed; the schedule goes on", logging.WARNING,
                      error=f"{type(error).__name__}: {error}")
            return
        inserted = ", ".join(f"{rows} {table}" for table, rows in result["inserted"].items())
        log_event(logger, f"simulated activity in the source: inserted {inserted}; "
                          f"marked {result['updated']['payment']} payments paid", seed=base_seed + cycle)

    return activity


def table_maintenance(state_dir: Path, workflow_name: str, every_hours: float, maintain: Callable[[], object],
                      clock: Callable[[], float] = time.time) -> Callable[[int], None]:
    """Activity between runs: ``maintain()`` when the last maintenance finished ``every_hours`` ago or more.

    When it finished is kept in ``<state_dir>/maintenance.json``, so a schedule started anew keeps the interval.
    It holds the workflow's lock while it runs (a ``make run`` meanwhile is refused, as a second workflow run
    would be) and skips this turn if another process holds it. A failure is logged and retried after the next
    run: the tables stay at their last commit, and the pipeline does not depend on maintenance.
    """
    record = state_dir / "maintenance.json"

    def activity(_cycle: int) -> None:
        try:
            last = json.loads(record.read_text())["finished_at_unix"]
        except (FileNotFoundError, json.JSONDecodeError, KeyError, TypeError):
            last = None
        if last is not None and clock() - last < every_hours * 3600:
            return
        state_dir.mkdir(parents=True, exist_ok=True)
        with open(lock_path(state_dir, workflow_name), "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log_event(logger, "table maintenance skipped: the workflow is running elsewhere", logging.WARNING)
                return
            log_event(logger, "table maintenance of the processed zone starting", every_hours=every_hours)
            try:
                maintain()
            except Exception as error:  # noqa: BLE001 - logged; the schedule goes on, maintenance retries
                log_event(logger, "table maintenance failed; retried after the next run", logging.ERROR,
                          error=f"{type(error).__name__}: {' '.join(str(error).split())[:500]}")
                return
        finished = clock()
        record.write_text(json.dumps({"finished_at_unix": finished, "finished_at": dt.datetime.fromtimestamp(
            finished, dt.timezone.utc).isoformat(timespec="seconds")}) + "\n")

    return activity


def between_runs(*activities: Callable[[int], None] | None) -> Callable[[int], None]:
    """One activity that runs each of ``activities`` (None ones left out) in order."""
    present = [activity for activity in activities if activity is not None]

    def activity(cycle: int) -> None:
        for each in present:
            each(cycle)

    return activity
