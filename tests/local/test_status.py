"""`status`: recent runs, bookmarks and data freshness, from the records the runs leave."""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import subprocess
import sys

from totes.bookmarks import ENABLE, JobBookmark
from totes.local.runner import JobRun, JobRunLog, WorkflowRun, WorkflowRunLog, lock_path
from totes.local.status import format_age, workflow_status
from totes.settings import REPO_DIR
from totes.zones import ZoneStore

from tests.local.fake_jobs import APPEND_NAME, chain_workflow

NOW = dt.datetime(2026, 11, 25, 18, 0, 0, tzinfo=dt.timezone.utc)


def _workflow(tmp_path):
    """ingest → transform → load, each with the zones the real jobs name."""
    zones = {"--ingestion-zone": (tmp_path / "ingestion").as_uri(),
             "--processed-zone": (tmp_path / "processed").as_uri()}
    return chain_workflow(tmp_path, {"ingest": APPEND_NAME, "transform": APPEND_NAME, "load": APPEND_NAME},
                          arguments=zones)


def _at(minutes_before_now: float) -> str:
    return (NOW - dt.timedelta(minutes=minutes_before_now)).isoformat(timespec="milliseconds")


def _run(job: str, state: str, started_min: float, seconds: float, workflow_run: str, **extra) -> JobRun:
    completed_on = None if state == "RUNNING" else _at(started_min - seconds / 60)
    return JobRun(Id=f"jr_{job}_{workflow_run}", JobName=f"totesys-{job}", Attempt=0,
                  StartedOn=_at(started_min), CompletedOn=completed_on, JobRunState=state,
                  ExecutionTime=seconds, WorkflowRunId=workflow_run, **extra)


def test_status_before_anything_ran_says_so(tmp_path):
    text = workflow_status(_workflow(tmp_path), tmp_path / "state", now=NOW)

    assert "Workflow wf: idle" in text
    assert "No job runs recorded yet: `make run` runs the workflow once" in text
    for job in ("totesys-ingest", "totesys-transform", "totesys-load"):
        assert f"{job:<20} none yet: the next run reads everything" in text
    freshness = text[text.index("Data freshness"):].splitlines()[1:]
    assert [line.split()[-1] for line in freshness] == ["never", "never"]
    assert freshness[0].split()[:4] == ["last", "SUCCEEDED", "totesys-load", "run"]


def test_status_shows_recent_runs_bookmarks_and_freshness(tmp_path):
    workflow = _workflow(tmp_path)
    log = JobRunLog(tmp_path / "state" / "job_runs.jsonl")
    for run in (
        _run("ingest", "SUCCEEDED", 50, 8.0, "wr_1", TriggerName="start",
             RowsIn={"address": 30, "payment": 70}, RowsOut={"address": 30, "payment": 70}),
        _run("transform", "SUCCEEDED", 49, 20.0, "wr_1", TriggerName="transform-after-ingest"),
        _run("load", "SUCCEEDED", 48, 5.0, "wr_1", TriggerName="load-after-transform",
             RowsIn={"fact_payment": 70}, RowsOut={"fact_payment": 70}),
        _run("ingest", "SUCCEEDED", 5, 7.5, "wr_2", TriggerName="start"),
        _run("transform", "FAILED", 4, 65.0, "wr_2",
             ErrorMessage="ContractViolationError: 2 orphan staff ids\n..."),
    ):
        log.append(run)
    WorkflowRunLog(tmp_path / "state" / "workflow_runs.jsonl").append(WorkflowRun(
        "wf", "wr_2", _at(5), _at(3), "COMPLETED", "start",
        {"TotalActions": 2, "SucceededActions": 1, "FailedActions": 1, "TimeoutActions": 0,
         "StoppedActions": 0}))
    ingestion = ZoneStore.for_uri((tmp_path / "ingestion").as_uri())
    bookmark = JobBookmark(ingestion, "totesys-ingest", ENABLE)
    bookmark.stage("source_address", {"to_inclusive": "2026-11-25 17:54:58.120", "recent_outputs": []})
    bookmark.stage("source_payment", {"to_inclusive": "2026-11-25 17:54:58.120",
                                      "recent_outputs": [{"x": 1}]})
    bookmark.commit("20261125T175500000Z-1a2b3c4d")

    text = workflow_status(workflow, tmp_path / "state", now=NOW, limit=4)

    assert "last run wr_2 started 2026-11-25 17:55:00 UTC, COMPLETED (1 of 2 jobs SUCCEEDED)" in text
    assert "Recent job runs (newest first; 4 of 5):" in text
    lines = text.splitlines()
    newest = lines[lines.index("Recent job runs (newest first; 4 of 5):") + 2]
    assert newest.split()[:6] == ["2026-11-25", "17:56:00", "totesys-transform", "1", "FAILED", "1"]
    assert "1 min 5 s" in newest and newest.endswith("ContractViolationError: 2 orphan staff ids")
    load_line = next(line for line in lines if "totesys-load" in line and "SUCCEEDED" in line)
    assert load_line.split()[-2:] == ["70", "70"] and "load-after-transform" in load_line
    assert "totesys-ingest       version 1, run 1, run id 20261125T175500000Z-1a2b3c4d" in text
    assert "source_address             to_inclusive 2026-11-25 17:54:58.120" in text
    assert "totesys-transform    none yet" in text
    assert ("last SUCCEEDED totesys-load run            47 min ago (2026-11-25 17:12:05 UTC, jr_load_wr_1)"
            in text)
    assert "last workflow run with every job SUCCEEDED 47 min ago (2026-11-25 17:12:05 UTC, wr_1)" in text
    assert "source read up to (ingestion bookmark)     2026-11-25 17:54:58.120 UTC (5 min ago)" in text


def test_a_running_job_shows_as_running_only_while_a_runner_holds_the_lock(tmp_path):
    workflow = _workflow(tmp_path)
    state_dir = tmp_path / "state"
    JobRunLog(state_dir / "job_runs.jsonl").append(_run("ingest", "RUNNING", 2, 0, "wr_1"))

    stale = workflow_status(workflow, state_dir, now=NOW)
    assert "RUNNING?" in stale and "ended without recording its end" in stale

    with open(lock_path(state_dir, workflow.name), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        running = workflow_status(workflow, state_dir, now=NOW)
    assert "Workflow wf: a run is in progress" in running
    assert "RUNNING?" not in running and " RUNNING " in running and "2 min 0 s" in running


def test_ages_read_naturally():
    ages = [format_age(NOW - dt.timedelta(seconds=seconds), NOW)
            for seconds in (5, 125, 3 * 3600 + 60, 90000)]
    assert ages == ["5 s ago", "2 min ago", "3 h 1 min ago", "1 d 1 h ago"]


def test_the_status_command_runs_on_an_empty_local_folder(tmp_path):
    env = {**os.environ, "TOTES_LOCAL_DIR": str(tmp_path),
           "PYTHONPATH": f"{REPO_DIR}:{REPO_DIR / 'local_glue'}"}
    completed = subprocess.run([sys.executable, "-m", "totes.local", "status"], env=env, capture_output=True,
                               text=True, timeout=60, check=True)

    assert completed.stdout.startswith("Workflow totesys-etl: idle")
    assert "No job runs recorded yet" in completed.stdout
    assert f"Spark event logs: 0 application(s) in {tmp_path / 'spark-events'}" in completed.stdout


def _quality(new_rows: int, held: int, released: int = 0) -> dict:
    from totes.transform.quality_report import RuleGroup, table_quality

    groups = [RuleGroup(None, None, new_rows - held),
              RuleGroup("missing_parent", None, held, ("sales_order_id 7: design_id 99 has no design row",)),
              RuleGroup(None, "missing_parent", released)]
    report = table_quality(("missing_value", "missing_parent"), [group for group in groups if group.rows])
    return {"fact_sales_order": report.as_dict()}


def test_status_shows_the_latest_quality_report_against_the_configured_share(tmp_path):
    workflow = _workflow(tmp_path)
    workflow.jobs["transform"].arguments["--max-quarantine-share"] = "0.05"
    log = JobRunLog(tmp_path / "state" / "job_runs.jsonl")
    log.append(_run("transform", "SUCCEEDED", 30, 20.0, "wr_1", Quality=_quality(100, 10)))
    log.append(_run("transform", "SUCCEEDED", 15, 20.0, "wr_2", Quality=_quality(50, 1, released=9)))
    log.append(_run("transform", "SUCCEEDED", 1, 3.0, "wr_3"))  # nothing new: no report

    text = workflow_status(workflow, tmp_path / "state", now=NOW)

    section = text[text.index("Data quality of totesys-transform"):].splitlines()
    assert section[0] == "Data quality of totesys-transform (a run alerts above 5.0% of its new rows quarantined):"
    assert section[1] == ("  latest run jr_transform_wr_2 (2026-11-25 17:45:00 UTC): 1 of 50 new rows quarantined "
                          "(2.0%), within the share; 1 of the last 2 runs were above it")
    assert section[3].split() == ["fact_sales_order", "59", "58", "1", "9"]
    assert section[4].split()[:5] == ["missing_parent", "59", "58", "1", "9"]
    assert section[4].endswith("sales_order_id 7: design_id 99 has no design row")
    assert "missing_value" not in text  # a rule that held and released nothing is left out


def test_status_of_a_workflow_whose_jobs_keep_no_quality_report_has_no_quality_section(tmp_path):
    assert "Data quality" not in workflow_status(_workflow(tmp_path), tmp_path / "state", now=NOW)
