"""``python -m totes.local status``: what Glue Studio's monitoring page shows, for the local runs.

Recent job runs (state, start, duration, rows in and out, error), the current bookmark of each job, and how
fresh the data is: time since the last SUCCEEDED run of the workflow's last job (the warehouse load) and since
the last workflow run in which every job succeeded, and the freshness promise: the lag of the recent loads
against it, judged by the alarm's rule (``totes.freshness``). Everything is read from files the runs leave
behind: the job and workflow run records in ``.local/state``, the bookmark JSON and the load's freshness records
in the zones.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

from totes.bookmarks import bookmark_key
from totes.freshness import FreshnessPromise, LoadFreshness, judge, lag_distribution
from totes.local.job_states import RUNNING, SUCCEEDED
from totes.local.runner import (
    JobRun,
    JobRunLog,
    WorkflowRun,
    WorkflowRunLog,
    workflow_is_running,
    zone_uris,
)
from totes.local.workflow import Workflow
from totes.transform.quality_report import (
    MAX_QUARANTINE_SHARE_ARGUMENT,
    QUALITY_DETAILS,
    RunQuality,
    format_share,
    max_quarantine_share,
)
from totes.zones import ZoneStore

DEFAULT_LIMIT = 10


@dataclass
class JobBookmarkView:
    job_name: str
    location: str | None  # the bookmark object's URI; None when no zone holds one
    entry: dict | None


def read_bookmarks(workflow: Workflow) -> list[JobBookmarkView]:
    """Each job's bookmark entry, from whichever of the job's zones holds ``_state/bookmarks/<job>.json``."""
    views = []
    for job in workflow.jobs.values():
        view = JobBookmarkView(job.name, None, None)
        for uri in zone_uris(job):
            store = ZoneStore.for_uri(uri)
            key = bookmark_key(job.name)
            if store.exists(key):
                view = JobBookmarkView(job.name, store.uri_of(key), json.loads(store.read_text(key)))
                break
        views.append(view)
    return views


def last_jobs(workflow: Workflow) -> list[str]:
    """Names of the jobs no trigger waits for: the end of the chain (the warehouse load here)."""
    watched = {job_key for trigger in workflow.triggers for job_key, _ in trigger.conditions}
    return [job.name for key, job in workflow.jobs.items() if key not in watched]


def successful_workflow_runs(workflow: Workflow, job_runs: list[JobRun]) -> dict[str, str]:
    """Workflow runs in which every job ran and its last attempt SUCCEEDED, as run id -> end time.

    Derived from the job runs, so that runs recorded before workflow runs were recorded count too.
    """
    by_workflow_run: dict[str, dict[str, JobRun]] = {}
    for run in job_runs:  # in start order: the last attempt of a job wins
        if run.WorkflowRunId:
            by_workflow_run.setdefault(run.WorkflowRunId, {})[run.JobName] = run
    wanted = {job.name for job in workflow.jobs.values()}
    return {
        workflow_run_id: max(run.CompletedOn for run in finals.values())
        for workflow_run_id, finals in by_workflow_run.items()
        if set(finals) == wanted
        and all(run.JobRunState == SUCCEEDED and run.CompletedOn for run in finals.values())
    }


def _parse(timestamp: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(timestamp)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def format_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def format_age(moment: dt.datetime, now: dt.datetime) -> str:
    seconds = (now - moment).total_seconds()
    if seconds < 0:
        return "in the future (clock skew?)"
    if seconds < 60:
        return f"{int(seconds)} s ago"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    return format_duration(seconds) + " ago"


def _utc(timestamp: str | None) -> str:
    return _parse(timestamp).strftime("%Y-%m-%d %H:%M:%S") if timestamp else "-"


def _rows(counts: dict[str, int] | None) -> str:
    return f"{sum(counts.values()):,}" if counts is not None else "-"


def _job_runs_section(runs: list[JobRun], now: dt.datetime, limit: int, running_now: bool) -> list[str]:
    recent = sorted(runs, key=lambda run: run.StartedOn, reverse=True)[:limit]
    lines = [f"Recent job runs (newest first; {len(recent)} of {len(runs)}):",
             f"  {'started (UTC)':<19}  {'job':<20} {'try':>3}  {'state':<9} {'duration':>12}  "
             f"{'trigger':<22} {'rows in':>9} {'rows out':>9}  error"]
    stale = False
    for run in recent:
        state = run.JobRunState
        if state == RUNNING:
            seconds = (now - _parse(run.StartedOn)).total_seconds()
            if not running_now:
                state, stale = "RUNNING?", True
        else:
            seconds = run.ExecutionTime
        error = (run.ErrorMessage or "").splitlines()[0] if run.ErrorMessage else ""
        if len(error) > 100:
            error = error[:97] + "..."
        lines.append(f"  {_utc(run.StartedOn):<19}  {run.JobName:<20} {run.Attempt + 1:>3}  {state:<9} "
                     f"{format_duration(seconds):>12}  {(run.TriggerName or '-'):<22} {_rows(run.RowsIn):>9} "
                     f"{_rows(run.RowsOut):>9}  {error}".rstrip())
    if stale:
        lines.append("  RUNNING?: no runner holds the workflow lock, so that run ended without recording "
                     "its end (the process was killed)")
    return lines


def _bookmarks_section(bookmarks: list[JobBookmarkView]) -> list[str]:
    lines = ["Bookmarks (committed state of each job; a failed run never moves it):"]
    for view in bookmarks:
        entry = view.entry
        if entry is None:
            lines.append(f"  {view.job_name:<20} none yet: the next run reads everything")
            continue
        if not entry.get("JobBookmark"):
            reset = f" after run {entry['ResetAfterRunId']}" if entry.get("ResetAfterRunId") else ""
            lines.append(f"  {view.job_name:<20} reset{reset}: the next run reads everything")
            continue
        lines.append(f"  {view.job_name:<20} version {entry.get('Version')}, run {entry.get('Run')}, "
                     f"run id {entry.get('RunId')}")
        lines.append(f"      {'stored at':<26} {view.location}")
        for ctx, state in entry["JobBookmark"].items():
            scalars = {key: value for key, value in state.items() if isinstance(value, (str, int, float))} \
                if isinstance(state, dict) else {}
            shown = ", ".join(f"{key} {value}" for key, value in scalars.items())
            lines.append(f"      {ctx:<26} {shown}".rstrip())
    return lines


def _quality_section(workflow: Workflow, job_runs: list[JobRun], limit: int) -> list[str]:
    """The data-quality report of the latest run of each job that keeps one, against the job's share."""
    lines = []
    for job in workflow.jobs.values():
        if MAX_QUARANTINE_SHARE_ARGUMENT not in job.arguments:
            continue
        max_share = max_quarantine_share(job.arguments[MAX_QUARANTINE_SHARE_ARGUMENT])
        reported = [run for run in job_runs if run.JobName == job.name and run.Quality]
        label = f"Data quality of {job.name} (a run alerts above {format_share(max_share)} of its new rows " \
                f"quarantined):"
        if not reported:
            lines += [label, "  no run has reported yet"]
            continue
        latest = max(reported, key=lambda run: run.StartedOn)
        quality = RunQuality.of_details({table: {QUALITY_DETAILS: report} for table, report in latest.Quality.items()})
        recent = sorted(reported, key=lambda run: run.StartedOn)[-limit:]
        above = sum(RunQuality.of_details({t: {QUALITY_DETAILS: r} for t, r in run.Quality.items()}).exceeds(max_share)
                    for run in recent)
        verdict = "ABOVE the share" if quality.exceeds(max_share) else "within the share"
        lines += [label,
                  f"  latest run {latest.Id} ({_utc(latest.StartedOn)} UTC): {quality.new_quarantined:,} of "
                  f"{quality.new_checked:,} new rows quarantined ({format_share(quality.share)}), {verdict}; "
                  f"{above} of the last {len(recent)} runs were above it",
                  f"  {'table / rule':<28} {'checked':>9} {'passed':>9} {'quarantined':>11} {'released':>9}  "
                  f"examples"]
        for table, report in quality.tables.items():
            lines.append(f"  {table:<28} {report.checked:>9,} {report.passed:>9,} {report.quarantined:>11,} "
                         f"{report.released:>9,}")
            for rule, counts in report.rules.items():
                if counts.quarantined or counts.released:
                    example = counts.examples[0] if counts.examples else ""
                    lines.append(f"    {rule:<26} {counts.checked:>9,} {counts.passed:>9,} {counts.quarantined:>11,} "
                                 f"{counts.released:>9,}  {example}".rstrip())
    return lines


def _source_read_bound(bookmarks: list[JobBookmarkView]) -> str | None:
    """The earliest upper bound of the tables' committed read windows: every table is read up to it."""
    bounds = [state["to_inclusive"] for view in bookmarks if view.entry
              for state in view.entry.get("JobBookmark", {}).values()
              if isinstance(state, dict) and isinstance(state.get("to_inclusive"), str)]
    return min(bounds) if bounds else None


def _freshness_section(workflow: Workflow, job_runs: list[JobRun], bookmarks: list[JobBookmarkView],
                       now: dt.datetime) -> list[str]:
    lines = [f"Data freshness (now {now.strftime('%Y-%m-%d %H:%M:%S')} UTC):"]
    finals = last_jobs(workflow)
    loads = [run for run in job_runs
             if run.JobName in finals and run.JobRunState == SUCCEEDED and run.CompletedOn]
    label = f"last SUCCEEDED {' / '.join(finals)} run"
    if loads:
        newest = max(loads, key=lambda run: run.CompletedOn)
        ended = _parse(newest.CompletedOn)
        lines.append(f"  {label:<42} {format_age(ended, now)} ({_utc(newest.CompletedOn)} UTC, {newest.Id})")
    else:
        lines.append(f"  {label:<42} never")
    good = successful_workflow_runs(workflow, job_runs)
    label = "last workflow run with every job SUCCEEDED"
    if good:
        workflow_run_id, completed_on = max(good.items(), key=lambda item: item[1])
        lines.append(f"  {label:<42} {format_age(_parse(completed_on), now)} "
                     f"({_utc(completed_on)} UTC, {workflow_run_id})")
    else:
        lines.append(f"  {label:<42} never")
    bound = _source_read_bound(bookmarks)
    if bound:
        try:
            age = f" ({format_age(_parse(bound), now)})"
        except ValueError:
            age = ""
        lines.append(f"  {'source read up to (ingestion bookmark)':<42} {bound} UTC{age}")
    return lines


@dataclass
class FreshnessRecords:
    """The promise and the load's freshness records (``totes.freshness``), for the promise section."""

    promise: FreshnessPromise
    records: list[LoadFreshness]


def read_freshness(workflow: Workflow) -> FreshnessRecords | None:
    """The records of the job that measures the freshness; None for a workflow whose definition has no promise
    or whose measuring job does not name the zones and jobs it measures from."""
    from totes.local.freshness_alarm import freshness_definition, workflow_ledger

    definition = freshness_definition()
    job = workflow.jobs.get(definition["measured_by"])
    needed = ("--processed-zone", "--ingestion-zone", "--transform-job-name", "--ingest-job-name")
    if job is None or not all(argument in job.arguments for argument in needed):
        return None
    return FreshnessRecords(FreshnessPromise.from_definition(definition),
                            workflow_ledger(workflow, definition).records())


def _lag(lag: dt.timedelta | None) -> str:
    return format_duration(lag.total_seconds()) if lag is not None else "-"


def _promise_section(freshness: FreshnessRecords, now: dt.datetime, recent: int = DEFAULT_LIMIT) -> list[str]:
    promise = freshness.promise
    verdict = judge(freshness.records, now, promise)
    lines = [f"Freshness promise (a source change visible in the warehouse within {promise.describe()}): "
             f"{'KEPT' if verdict.kept else 'BROKEN'}, {verdict.reason}"]
    latest = verdict.latest
    if latest is None:
        return lines + ["  no load has measured its lag yet"]
    label = "last load"
    lines.append(f"  {label:<42} {latest.load_run_id}, committed {format_age(latest.loaded_at, now)} "
                 f"({latest.loaded_at:%Y-%m-%d %H:%M:%S} UTC)")
    if latest.visible_through is not None:
        lines.append(f"  {'visible through (source changes up to it)':<42} "
                     f"{latest.visible_through:%Y-%m-%d %H:%M:%S} UTC")
    parts = (f" (read {_lag(latest.behind_source)} behind the source, committed {_lag(latest.age)} after the "
             f"read)") if latest.age is not None else ""
    lines.append(f"  {'its lag':<42} {_lag(latest.lag)} of {promise.describe()}{parts}")
    distribution = lag_distribution(freshness.records[-recent:])
    if distribution:
        lines.append(f"  {'lag of the last ' + str(distribution['loads']) + ' loads':<42} median "
                     f"{format_duration(distribution['median'])}, 95th percentile "
                     f"{format_duration(distribution['p95'])}, highest {format_duration(distribution['max'])}")
    return lines


def format_status(workflow: Workflow, job_runs: list[JobRun], workflow_runs: list[WorkflowRun],
                  bookmarks: list[JobBookmarkView], now: dt.datetime, running_now: bool = False,
                  limit: int = DEFAULT_LIMIT, spark_event_log_dir: Path | None = None,
                  freshness: FreshnessRecords | None = None) -> str:
    header = f"Workflow {workflow.name}: " + ("a run is in progress" if running_now else "idle")
    if workflow_runs:
        last = workflow_runs[-1]
        stats = last.Statistics
        summary = (f"{stats.get('SucceededActions', 0)} of {stats.get('TotalActions', 0)} jobs SUCCEEDED"
                   if last.Status != RUNNING else "running")
        header += (f"; last run {last.WorkflowRunId} started {_utc(last.StartedOn)} UTC, "
                   f"{last.Status} ({summary})")
    lines = [header, ""]
    if job_runs:
        lines += _job_runs_section(job_runs, now, limit, running_now)
    else:
        lines.append("No job runs recorded yet: `make run` runs the workflow once, `make schedule` every "
                     "15 minutes.")
    lines.append("")
    lines += _bookmarks_section(bookmarks)
    quality = _quality_section(workflow, job_runs, limit)
    lines += [""] + quality if quality else []
    lines.append("")
    lines += _freshness_section(workflow, job_runs, bookmarks, now)
    if freshness is not None:
        lines += [""] + _promise_section(freshness, now, limit)
    if spark_event_log_dir is not None:
        applications = [path for path in spark_event_log_dir.glob("*") if path.is_file()] \
            if spark_event_log_dir.is_dir() else []
        lines += ["", f"Spark event logs: {len(applications)} application(s) in {spark_event_log_dir} "
                      "(`make spark-ui` opens them in the Spark history UI)"]
    return "\n".join(lines)


def workflow_status(workflow: Workflow, state_dir: Path, now: dt.datetime | None = None,
                    limit: int = DEFAULT_LIMIT, spark_event_log_dir: Path | None = None) -> str:
    """The status report of ``workflow`` from the records in ``state_dir`` and the bookmarks in its zones."""
    return format_status(
        workflow,
        JobRunLog(state_dir / "job_runs.jsonl").runs(),
        WorkflowRunLog(state_dir / "workflow_runs.jsonl").runs(),
        read_bookmarks(workflow),
        now or dt.datetime.now(dt.timezone.utc),
        running_now=workflow_is_running(state_dir, workflow.name),
        limit=limit,
        spark_event_log_dir=spark_event_log_dir,
        freshness=read_freshness(workflow),
    )
