"""Job runs for the pipeline health tab: the local run log (tolerant of old and new records), Glue (moto), and
freshness; the dashboard's settings."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import boto3
import pytest
from moto import mock_aws

from totes.dashboard.config import DashboardConfig, DashboardConfigError
from totes.dashboard.job_runs import (
    GlueJobRuns,
    JobRunSourceError,
    LocalJobRunLog,
    format_age,
    freshness,
    workflow_job_names,
)
from totes.local.runner import JobRun

UTC = dt.timezone.utc


def _write(path, *records) -> None:
    path.write_text(
        "".join((record if isinstance(record, str) else json.dumps(record)) + "\n" for record in records)
    )


def test_local_log_keeps_the_newest_record_of_each_run_and_tolerates_odd_lines(tmp_path):
    log = tmp_path / "job_runs.jsonl"
    _write(
        log,
        {
            "Id": "jr_1",
            "JobName": "totesys-load",
            "StartedOn": "2026-11-25T10:00:00.000+00:00",
            "JobRunState": "RUNNING",
        },
        '{"Id": "jr_cut", "JobName": "totesys-lo',  # a line cut short by a killed writer
        {"JobName": "totesys-load", "JobRunState": "SUCCEEDED"},  # no run id: not a run
        {
            "Id": "jr_1",
            "JobName": "totesys-load",
            "StartedOn": "2026-11-25T10:00:00.000+00:00",
            "CompletedOn": "2026-11-25T10:00:07.500+00:00",
            "JobRunState": "SUCCEEDED",
            "ExecutionTime": 7.5,
            "RowsOut": {"fact_payment": 3, "dim_date": 0},
            "SomeFieldFromTheFuture": {"x": 1},
        },
        {
            "Id": "jr_2",
            "JobName": "totesys-ingest",
            "StartedOn": "2026-11-25T11:00:00",  # naive: UTC
            "JobRunState": "FAILED",
            "ErrorMessage": "SourceUnavailableError: cannot read the source",
        },
        "",
    )

    runs = LocalJobRunLog(log).recent_runs()

    assert [(run.run_id, run.state) for run in runs] == [("jr_2", "FAILED"), ("jr_1", "SUCCEEDED")]
    failed, load = runs
    assert failed.started_on == dt.datetime(2026, 11, 25, 11, tzinfo=UTC) and failed.failed
    assert failed.rows_out is None and failed.execution_seconds is None
    assert load.rows_out == {"fact_payment": 3, "dim_date": 0} and load.execution_seconds == 7.5


def test_local_log_reads_what_the_runner_writes(tmp_path):
    run = JobRun(
        Id="jr_x",
        JobName="totesys-transform",
        Attempt=1,
        StartedOn="2026-11-25T09:00:00.000+00:00",
        CompletedOn="2026-11-25T09:01:00.000+00:00",
        JobRunState="SUCCEEDED",
        ExecutionTime=60.0,
    )
    log = tmp_path / "job_runs.jsonl"
    _write(log, dataclasses.asdict(run))

    (record,) = LocalJobRunLog(log).recent_runs()

    assert (record.run_id, record.job_name, record.attempt, record.state, record.execution_seconds) == (
        "jr_x",
        "totesys-transform",
        1,
        "SUCCEEDED",
        60.0,
    )
    assert record.completed_on == dt.datetime(2026, 11, 25, 9, 1, tzinfo=UTC)


def test_local_log_without_a_file_has_no_runs(tmp_path):
    assert LocalJobRunLog(tmp_path / "none.jsonl").recent_runs() == []


def test_recent_runs_are_limited_per_job(tmp_path):
    log = tmp_path / "job_runs.jsonl"
    _write(
        log,
        *(
            {
                "Id": f"jr_{job}{n}",
                "JobName": job,
                "StartedOn": f"2026-11-25T10:0{n}:00+00:00",
                "JobRunState": "SUCCEEDED",
            }
            for n in range(6)
            for job in ("a", "b")
        ),
    )

    runs = LocalJobRunLog(log).recent_runs(limit=2)

    assert [(run.job_name, run.started_on.minute) for run in runs] == [("a", 5), ("b", 5), ("a", 4), ("b", 4)]


def test_freshness_is_the_newest_succeeded_load(tmp_path):
    log = tmp_path / "job_runs.jsonl"
    _write(
        log,
        {
            "Id": "old",
            "JobName": "totesys-load",
            "StartedOn": "2026-11-25T08:00:00+00:00",
            "CompletedOn": "2026-11-25T08:00:05+00:00",
            "JobRunState": "SUCCEEDED",
        },
        {
            "Id": "good",
            "JobName": "totesys-load",
            "StartedOn": "2026-11-25T09:00:00+00:00",
            "CompletedOn": "2026-11-25T09:00:05+00:00",
            "JobRunState": "SUCCEEDED",
        },
        {
            "Id": "bad",
            "JobName": "totesys-load",
            "StartedOn": "2026-11-25T10:00:00+00:00",
            "CompletedOn": "2026-11-25T10:00:05+00:00",
            "JobRunState": "FAILED",
        },
        {
            "Id": "other",
            "JobName": "totesys-ingest",
            "StartedOn": "2026-11-25T10:30:00+00:00",
            "CompletedOn": "2026-11-25T10:30:05+00:00",
            "JobRunState": "SUCCEEDED",
        },
    )

    fresh = freshness(LocalJobRunLog(log).recent_runs(), "totesys-load")

    assert fresh.last_successful_load.run_id == "good"
    assert format_age(fresh.age(dt.datetime(2026, 11, 25, 12, 5, 5, tzinfo=UTC))) == "3 h 5 min"
    assert freshness([], "totesys-load").age(dt.datetime.now(UTC)) is None


@pytest.mark.parametrize(
    "seconds, shown",
    [(42, "42 s"), (7 * 60 + 3, "7 min"), (26 * 3600, "1 d 2 h"), (-5, "in the future (clock skew?)")],
)
def test_ages_read_as_people_say_them(seconds, shown):
    assert format_age(dt.timedelta(seconds=seconds)) == shown


def test_glue_job_runs_of_the_workflow_jobs():
    names = list(workflow_job_names().values())
    assert names == ["totesys-ingest", "totesys-transform", "totesys-load"]
    assert workflow_job_names("totesys-prod") == {
        "ingest": "totesys-prod-ingest", "transform": "totesys-prod-transform", "load": "totesys-prod-load"}
    with mock_aws():
        glue = boto3.client("glue", region_name="eu-west-2")
        for name in names:
            glue.create_job(
                Name=name,
                Role="arn:aws:iam::123456789012:role/glue",
                Command={"Name": "glueetl", "ScriptLocation": f"s3://scripts/{name}.py"},
            )
        started = {name: glue.start_job_run(JobName=name)["JobRunId"] for name in names}

        runs = GlueJobRuns(client=glue).recent_runs()

    assert {run.job_name: run.run_id for run in runs} == started
    assert all(run.started_on.tzinfo is not None and run.rows_out is None for run in runs)
    assert freshness(runs, "totesys-load").last_successful_load.run_id == started["totesys-load"]


def test_glue_without_the_job_says_which_job_is_missing():
    with mock_aws():
        source = GlueJobRuns(["totesys-load"], client=boto3.client("glue", region_name="eu-west-2"))
        with pytest.raises(JobRunSourceError, match="Glue has no job 'totesys-load'"):
            source.recent_runs()


def test_settings_default_to_the_local_stack_when_secrets_are_local_files():
    config = DashboardConfig.from_env({"TOTES_LOCAL_SECRETS_DIR": "/x"})
    assert config.secret_id == "totesys/warehouse-readonly" and config.refresh_seconds == 60
    assert config.job_runs.endswith("state/job_runs.jsonl")
    aws = DashboardConfig.from_env(
        {
            "TOTES_DASHBOARD_SECRET_ID": "totesys-prod/warehouse-readonly",
            "TOTES_DASHBOARD_REFRESH_SECONDS": "30",
        }
    )
    assert (aws.secret_id, aws.refresh_seconds, aws.job_runs_from_glue) == (
        "totesys-prod/warehouse-readonly",
        30.0,
        True,
    )


@pytest.mark.parametrize("value", ["soon", "0.1"])
def test_a_bad_refresh_interval_is_refused_with_its_name(value):
    with pytest.raises(DashboardConfigError, match="TOTES_DASHBOARD_REFRESH_SECONDS"):
        DashboardConfig.from_env({"TOTES_DASHBOARD_REFRESH_SECONDS": value})
