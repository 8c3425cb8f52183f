"""The local runner executes the one workflow definition like a Glue workflow run."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from totes.local.runner import LocalWorkflowRunner, WorkflowAlreadyRunningError, local_workflow_variables
from totes.local.workflow import load_workflow


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
