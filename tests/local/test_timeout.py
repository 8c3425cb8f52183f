"""A job exceeding its timeout is stopped, recorded as TIMEOUT, not retried, and stops the chain."""

from __future__ import annotations

import threading
import time

import pytest

from totes.local.runner import LocalWorkflowRunner, StopRequest, WorkflowAlreadyRunningError

from tests.local.fake_jobs import APPEND_NAME, SLEEP_FOREVER, chain_workflow, out_lines


def test_a_job_over_its_timeout_is_stopped_recorded_as_timeout_and_the_chain_stops(tmp_path):
    workflow = chain_workflow(tmp_path, {"slow": APPEND_NAME + SLEEP_FOREVER, "next": APPEND_NAME},
                              max_retries=2)
    runner = LocalWorkflowRunner(workflow, state_dir=tmp_path / "state", timeout_seconds=0.3)

    started = time.monotonic()
    result = runner.run()

    assert time.monotonic() - started < 5
    (timed_out,) = result.job_runs  # not retried, although max_retries is 2
    assert timed_out.JobRunState == "TIMEOUT"
    assert timed_out.ErrorMessage.startswith("Job run timed out after 0.3 s (timeout override)")
    assert 0.3 <= timed_out.ExecutionTime < 5
    assert out_lines(tmp_path) == ["totesys-slow"]  # "next" never started
    assert result.states == {"slow": "TIMEOUT"} and not result.succeeded
    assert [run.JobRunState for run in runner.job_run_log.runs()] == ["TIMEOUT"]
    assert runner.workflow_run_log.runs()[-1].Statistics["TimeoutActions"] == 1


def test_the_timeout_comes_from_the_definition_unless_overridden(tmp_path):
    workflow = chain_workflow(tmp_path, {"a": APPEND_NAME, "b": APPEND_NAME}, timeout_minutes=7)

    assert LocalWorkflowRunner(workflow).timeout_of(workflow.jobs["a"]) == 420
    overridden = LocalWorkflowRunner(workflow, timeout_seconds={"totesys-b": 2})
    assert [overridden.timeout_of(job) for job in workflow.jobs.values()] == [420, 2]


def test_a_script_blocked_past_the_grace_period_is_abandoned_and_the_workflow_waits_for_it(tmp_path):
    # time.sleep(1.5) is one C call: the interruption only lands when it returns.
    workflow = chain_workflow(tmp_path, {"stuck": "import time\ntime.sleep(1.5)\n"})
    runner = LocalWorkflowRunner(workflow, state_dir=tmp_path / "state", timeout_seconds=0.2,
                                 stop_grace_seconds=0.2)

    (run,) = runner.run().job_runs

    assert run.JobRunState == "TIMEOUT"
    assert "did not end within 0.2 s and was abandoned" in run.ErrorMessage
    with pytest.raises(WorkflowAlreadyRunningError, match=f"{run.Id} was stopped but its script has not"):
        runner.run()
    _, thread = runner._abandoned[0]
    thread.join(5)
    assert not thread.is_alive()
    runner.timeout_seconds = None
    assert runner.run().job_runs[0].JobRunState == "SUCCEEDED"


def test_a_stop_request_stops_the_running_job_as_stopped_and_nothing_after_it_starts(tmp_path):
    stop = StopRequest(finish_current_run=False)
    workflow = chain_workflow(tmp_path, {"a": APPEND_NAME + SLEEP_FOREVER, "b": APPEND_NAME}, max_retries=1)
    runner = LocalWorkflowRunner(workflow, state_dir=tmp_path / "state", stop=stop)
    threading.Timer(0.3, stop.request).start()

    result = runner.run()

    assert [run.JobRunState for run in result.job_runs] == ["STOPPED"]
    assert result.job_runs[0].ErrorMessage.startswith("Job run stopped on request")
    assert result.stopped and not result.succeeded
    assert runner.workflow_run_log.runs()[-1].Status == "STOPPED"
    assert out_lines(tmp_path) == ["totesys-a"]


# A Spark action that would run for a minute: only cancelling its job group ends it early.
LONG_SPARK_JOB = """
import time
from pyspark.context import SparkContext
def slow(rows):
    time.sleep(60)
    return rows
SparkContext.getOrCreate().parallelize(range(2), 2).mapPartitions(slow).count()
"""


def test_a_timed_out_spark_job_is_cancelled(spark, tmp_path):
    workflow = chain_workflow(tmp_path, {"spark": LONG_SPARK_JOB})
    runner = LocalWorkflowRunner(workflow, state_dir=tmp_path / "state", timeout_seconds=2,
                                 stop_grace_seconds=20)

    started = time.monotonic()
    (run,) = runner.run().job_runs

    assert run.JobRunState == "TIMEOUT"
    assert time.monotonic() - started < 20  # the action was cancelled, not waited for
    assert "abandoned" not in run.ErrorMessage
    assert spark.sparkContext.statusTracker().getActiveJobsIds() == []
