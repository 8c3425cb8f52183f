"""The local runner executes the one workflow definition like a Glue workflow run."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from totes.local.runner import (
    JobRunLog,
    LocalWorkflowRunner,
    WorkflowAlreadyRunningError,
    WorkflowRunLog,
)
from totes.local.workflow import load_workflow, local_workflow_variables
from totes.manifests import RunManifest, TableOutput, write_manifest
from totes.zones import ZoneStore

from tests.local.fake_jobs import chain_workflow, out_lines


def _workflow(tmp_path: Path, scripts: dict[str, str], max_retries: int = 0):
    """A two-job workflow (first, then second on SUCCEEDED) whose scripts are the given source texts."""
    jobs = {}
    for key, source in scripts.items():
        path = tmp_path / f"{key}.py"
        path.write_text(source)
        jobs[key] = {"name": f"job-{key}", "script": str(path), "max_retries": max_retries,
                     "arguments": {"--out": str(tmp_path / "out.txt")}}
    definition = {
        "name": "wf",
        "jobs": jobs,
        "triggers": [
            {"name": "start", "type": "ON_DEMAND", "actions": [{"job": "first"}]},
            {"name": "then", "type": "CONDITIONAL", "actions": [{"job": "second"}],
             "predicate": {"conditions": [{"job": "first", "state": "SUCCEEDED"}]}},
        ],
    }
    path = tmp_path / "workflow.json"
    path.write_text(json.dumps(definition))
    return load_workflow({}, path)


APPEND_NAME = (
    "import sys\n"
    "out = sys.argv[sys.argv.index('--out') + 1]\n"
    "open(out, 'a').write(sys.argv[sys.argv.index('--JOB_NAME') + 1] + '\\n')\n"
)
FAIL = "raise RuntimeError('boom')\n"


def test_jobs_run_in_trigger_order_with_glue_arguments(tmp_path):
    workflow = _workflow(tmp_path, {"first": APPEND_NAME, "second": APPEND_NAME})
    result = LocalWorkflowRunner(workflow, state_dir=tmp_path / "state").run()

    assert result.succeeded
    assert (tmp_path / "out.txt").read_text().split() == ["job-first", "job-second"]
    assert [run.JobRunState for run in result.job_runs] == ["SUCCEEDED", "SUCCEEDED"]
    assert all(run.Id.startswith("jr_") and run.WorkflowRunId == result.workflow_run_id for run in result.job_runs)


def test_a_failed_job_is_retried_then_stops_the_chain(tmp_path):
    workflow = _workflow(tmp_path, {"first": FAIL, "second": APPEND_NAME}, max_retries=2)
    runner = LocalWorkflowRunner(workflow, state_dir=tmp_path / "state")
    result = runner.run()

    assert not result.succeeded
    assert [(run.JobName, run.Attempt) for run in result.job_runs] == [("job-first", 0), ("job-first", 1),
                                                                        ("job-first", 2)]
    assert result.job_runs[-1].ErrorMessage == "RuntimeError: boom"
    assert not (tmp_path / "out.txt").exists()
    assert [run.JobRunState for run in runner.job_run_log.runs()] == ["FAILED"] * 3


def test_a_second_run_while_one_runs_is_refused(tmp_path):
    started, release = threading.Event(), threading.Event()
    workflow = _workflow(tmp_path, {"first": APPEND_NAME, "second": APPEND_NAME})

    def slow_script(script, argv):
        started.set()
        release.wait(10)

    first = LocalWorkflowRunner(workflow, state_dir=tmp_path / "state", run_script=slow_script)
    thread = threading.Thread(target=first.run)
    thread.start()
    started.wait(10)
    try:
        with pytest.raises(WorkflowAlreadyRunningError, match="already running"):
            LocalWorkflowRunner(workflow, state_dir=tmp_path / "state").run()
    finally:
        release.set()
        thread.join()


def test_the_project_workflow_starts_ingestion_every_15_minutes():
    workflow = load_workflow(local_workflow_variables())
    start = workflow.start_trigger
    assert (start.type, start.schedule) == ("SCHEDULED", "cron(0/15 * * * ? *)")
    assert workflow.jobs[start.actions[0]].script.name == "ingest_totesys.py"
    assert workflow.max_concurrent_runs == 1


def test_a_trigger_waiting_for_a_state_glue_does_not_have_is_refused(tmp_path):
    _workflow(tmp_path, {"first": APPEND_NAME, "second": APPEND_NAME})
    path = tmp_path / "workflow.json"
    path.write_text(path.read_text().replace('"SUCCEEDED"', '"SUCCEDED"'))

    with pytest.raises(ValueError, match="trigger then waits for first to reach 'SUCCEDED', which is not a Glue job"):
        load_workflow({}, path)


# --- the trigger chain, retries and the job run records -------------------------------------------------

def test_the_chain_runs_in_trigger_order_and_stops_at_the_first_failure(tmp_path):
    workflow = chain_workflow(tmp_path, {"a": APPEND_NAME, "b": APPEND_NAME + FAIL, "c": APPEND_NAME})
    runner = LocalWorkflowRunner(workflow, state_dir=tmp_path / "state")
    result = runner.run()

    assert not result.succeeded
    assert out_lines(tmp_path) == ["totesys-a", "totesys-b"]
    assert result.states == {"a": "SUCCEEDED", "b": "FAILED"}
    assert [(run.JobName, run.TriggerName) for run in result.job_runs] == [("totesys-a", "start"),
                                                                            ("totesys-b", "b-after-a")]
    (workflow_run,) = runner.workflow_run_log.runs()
    assert (workflow_run.Status, workflow_run.TriggerName) == ("COMPLETED", "start")
    assert workflow_run.Statistics == {"TotalActions": 2, "SucceededActions": 1, "FailedActions": 1,
                                       "TimeoutActions": 0, "StoppedActions": 0}
    assert not workflow_run.succeeded


def test_a_retry_is_a_new_job_run_named_after_the_first_attempt(tmp_path):
    workflow = chain_workflow(tmp_path, {"a": FAIL}, max_retries=1)
    first, retry = LocalWorkflowRunner(workflow, state_dir=tmp_path / "state").run().job_runs

    assert retry.Id == f"{first.Id}_attempt_1"
    assert (first.PreviousRunId, retry.PreviousRunId) == (None, first.Id)
    assert (first.Attempt, retry.Attempt) == (0, 1)


def test_a_script_ending_with_sys_exit_is_judged_by_its_exit_code(tmp_path):
    workflow = chain_workflow(tmp_path, {"a": "import sys\nsys.exit(0)\n", "b": "import sys\nsys.exit(1)\n"})
    result = LocalWorkflowRunner(workflow, state_dir=tmp_path / "state").run()

    assert result.states == {"a": "SUCCEEDED", "b": "FAILED"}
    assert result.job_runs[-1].ErrorMessage == "SystemExit: 1"  # what Glue reports for the same script


def test_every_run_is_recorded_running_first_and_its_end_replaces_it(tmp_path):
    seen = []

    def record_what_the_log_says(script, argv):
        seen.append([run.JobRunState for run in JobRunLog(tmp_path / "state" / "job_runs.jsonl").runs()])

    workflow = chain_workflow(tmp_path, {"a": APPEND_NAME})
    runner = LocalWorkflowRunner(workflow, state_dir=tmp_path / "state", run_script=record_what_the_log_says)
    runner.run()

    assert seen == [["RUNNING"]]
    assert [run.JobRunState for run in runner.job_run_log.runs()] == ["SUCCEEDED"]
    assert len((tmp_path / "state" / "job_runs.jsonl").read_text().splitlines()) == 2


def test_records_written_before_the_new_fields_still_load(tmp_path):
    old = {"Id": "jr_1", "JobName": "totesys-ingest", "Attempt": 0,
           "StartedOn": "2026-11-25T17:09:31.869+00:00", "CompletedOn": "2026-11-25T17:09:39.700+00:00",
           "JobRunState": "SUCCEEDED", "ErrorMessage": None, "ExecutionTime": 7.8, "WorkflowRunId": "wr_1", "Arguments": {}}
    path = tmp_path / "job_runs.jsonl"
    path.write_text(json.dumps(old) + "\n" + json.dumps({**old, "Id": "jr_2", "SomeFutureField": 1}) + "\n")

    runs = JobRunLog(path).runs()

    assert [run.Id for run in runs] == ["jr_1", "jr_2"]
    assert runs[0].TriggerName is None and runs[0].RowsIn is None
    assert WorkflowRunLog(tmp_path / "missing.jsonl").runs() == []


# Commits a manifest the way the jobs do: in its zone, naming the Glue job run id it ran as.
WRITE_MANIFEST = """
import sys
from totes.manifests import RunManifest, TableOutput, new_run_id, write_manifest
from totes.zones import ZoneStore
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
details = {"status": "written", "files_note": "x", "nested": {"a": 1}}
tables = {name: TableOutput(name, int(rows), details=details)
          for name, rows in (item.split("=") for item in args["--tables"].split(","))}
write_manifest(ZoneStore.for_uri(args["--processed-zone"]), RunManifest(
    job_name=args["--JOB_NAME"], run_id=new_run_id(), started_at="", finished_at="",
    bookmark_option="job-bookmark-enable", glue_job_run_id=args["--JOB_RUN_ID"], tables=tables,
    inputs=args.get("--inputs", "").split(",") if args.get("--inputs") else []))
"""


def test_rows_in_and_out_per_table_come_from_the_committed_manifests(tmp_path):
    zone = ZoneStore.for_uri(str(tmp_path / "zone"))
    # Two upstream runs: what each added adds up, what an upstream run left unchanged does not count.
    older, newer = "20260101T000000000Z-aaaaaaaa", "20260101T000100000Z-bbbbbbbb"
    for run_id, facts, dims in ((older, 5, 3), (newer, 7, 4)):
        write_manifest(zone, RunManifest("upstream", run_id, "", "", "job-bookmark-enable", None, {
            "fact_sales_order": TableOutput("fact_sales_order", facts),
            "dim_staff": TableOutput("dim_staff", dims, details={"status": "written"}),
            "dim_date": TableOutput("dim_date", 1491, details={"status": "unchanged"})}))
    jobs = {
        "first": WRITE_MANIFEST,
        "second": WRITE_MANIFEST,
    }
    workflow = chain_workflow(tmp_path, jobs, arguments={"--processed-zone": zone.uri,
                                                         "--tables": "fact_sales_order=12,dim_staff=4"})
    # The second job consumed the two upstream runs.
    workflow.jobs["second"].arguments["--inputs"] = f"{older},{newer}"
    result = LocalWorkflowRunner(workflow, state_dir=tmp_path / "state").run()

    first, second = result.job_runs
    assert first.RowsOut == {"fact_sales_order": 12, "dim_staff": 4}
    assert first.RowsIn == first.RowsOut  # started by the schedule, no inputs: it read an external source
    assert second.RowsIn == {"fact_sales_order": 12, "dim_staff": 7}
    assert second.OutputDetails["dim_staff"] == {"status": "written", "files_note": "x"}
    assert first.ManifestRunId and first.ManifestRunId != second.ManifestRunId
    # What the log keeps is what the result says.
    assert [run.RowsOut for run in JobRunLog(tmp_path / "state" / "job_runs.jsonl").runs()] == [
        first.RowsOut, second.RowsOut]


def test_a_run_started_from_another_process_while_one_runs_is_refused(tmp_path):
    import fcntl
    import os
    import subprocess
    import sys

    from totes.local.runner import lock_path
    from totes.settings import REPO_DIR

    state_dir = tmp_path / "state"
    state_dir.mkdir()
    env = {**os.environ, "TOTES_LOCAL_DIR": str(tmp_path), "PYTHONPATH": f"{REPO_DIR}:{REPO_DIR / 'local_glue'}"}
    with open(lock_path(state_dir, "totesys-etl"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # what a running `make run` holds
        completed = subprocess.run([sys.executable, "-m", "totes.local", "run"], env=env, capture_output=True,
                                   text=True, timeout=120)

    assert completed.returncode == 2
    assert "workflow totesys-etl is already running (max_concurrent_runs = 1)" in completed.stderr
    assert not (state_dir / "job_runs.jsonl").exists()  # nothing started, not even Spark
