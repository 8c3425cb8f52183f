"""Rewind: one table's rows of a past window read again as a run of its own, and what it refuses.

The refusals of the window and of the arguments run without Spark (they fail before anything starts); the runs
go through the real Glue script against a seeded source, as the other ingestion tests do.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json

import pytest

from totes.bookmarks import bookmark_key
from totes.ingest.errors import RewindRefusedError
from totes.ingest.rewind import CORRECTING_MODE, RewindRequest, rewind_window
from totes.ingest.window import ONE_TICK, ReadWindow, format_timestamp, parse_timestamp
from totes.local.__main__ import main as local_main
from totes.local.__main__ import rewind_workflow
from totes.local.runner import LocalWorkflowRunner, lock_path
from totes.local.workflow import load_workflow, local_workflow_variables
from totes.settings import INGEST_JOB_NAME

INGESTED_TO = dt.datetime(2024, 11, 15, 14, 40, 10, 188000)
SOURCE_NOW = dt.datetime(2026, 12, 4, 1, 0)


# -- the window --------------------------------------------------------------------------------------------------
def test_window_starts_at_from_inclusive_and_ends_at_what_the_bookmark_ingested():
    request = RewindRequest.parse("payment", "2024-11-01 00:00")

    window = rewind_window(request, INGESTED_TO, SOURCE_NOW)

    assert window == ReadWindow(dt.datetime(2024, 11, 1) - ONE_TICK, INGESTED_TO, INGESTED_TO)


def test_to_inclusive_is_kept_below_the_bookmark_and_capped_above_it():
    below = RewindRequest.parse("payment", "2024-11-01", "2024-11-02 12:30:00.250")
    above = RewindRequest.parse("payment", "2024-11-01", "2025-06-01")

    assert rewind_window(below, INGESTED_TO, SOURCE_NOW).to_inclusive == dt.datetime(2024, 11, 2, 12, 30, 0, 250000)
    assert rewind_window(above, INGESTED_TO, SOURCE_NOW).to_inclusive == INGESTED_TO


@pytest.mark.parametrize("table, from_text, to_text, message", [
    ("payment", "2024-11-02", "2024-11-01 23:59", "FROM 2024-11-02 00:00:00.000 is after TO 2024-11-01 23:59"),
    ("payment", "1st of November", "", "FROM '1st of November' is not a time"),
    ("payment", "2024-11-01", "2024-13-01", "TO '2024-13-01' is not a time"),
    ("payment", "2024-11-01T00:00+01:00", "", "has a time zone"),
    ("payment", "2024-11-01 00:00:00.0005", "", "finer than the source's milliseconds"),
    ("payment", "  ", "", "needs the time to read from"),
    ("paymnt", "2024-11-01", "", "unknown totesys table 'paymnt'"),
])
def test_an_invalid_request_is_refused_in_one_line(table, from_text, to_text, message):
    with pytest.raises(RewindRefusedError, match="^rewind refused: ") as refused:
        RewindRequest.parse(table, from_text, to_text)
    assert message in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize("from_text, to_text, ingested_to, message", [
    ("2027-01-01", "", INGESTED_TO, "FROM 2027-01-01 00:00:00.000 is in the future (the source's clock says "
                                    "2026-12-04 01:00:00.000)"),
    ("2024-11-01", "2026-12-04 01:00:00.001", INGESTED_TO, "TO 2026-12-04 01:00:00.001 is in the future"),
    ("2024-11-15 14:40:10.189", "", INGESTED_TO, "is after what has been ingested of payment (up to "
                                                 "2024-11-15 14:40:10.188); the next delta reads those rows"),
    ("2024-11-01", "", None, "payment has never been ingested"),
])
def test_a_window_in_the_future_or_beyond_the_bookmark_is_refused(from_text, to_text, ingested_to, message):
    request = RewindRequest.parse("payment", from_text, to_text)
    with pytest.raises(RewindRefusedError, match="^rewind refused: ") as refused:
        rewind_window(request, ingested_to, SOURCE_NOW)
    assert message in str(refused.value)


# -- the job's arguments -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("extra, option, message", [
    (["--rewind-from", "2024-11-01"], "job-bookmark-enable", "--rewind-from/--rewind-to need --rewind-table"),
    (["--rewind-table", "payment", "--rewind-from", "2024-11-01", "--tables", "payment"], "job-bookmark-enable",
     "--tables and --rewind-table exclude each other"),
    (["--rewind-table", "payment", "--rewind-from", "2024-11-01"], "job-bookmark-disable",
     "needs --job-bookmark-option job-bookmark-enable"),
    (["--rewind-table", "payment", "--rewind-from", "2024-11-01", "--reconcile", "now"], "job-bookmark-enable",
     "--reconcile now is a run of its own"),
    (["--rewind-table", "payment", "--rewind-from", "2024-11-01", "--rewind-to", "2024-10-01"],
     "job-bookmark-enable", "is after TO"),
])
def test_contradicting_job_arguments_are_refused_before_anything_starts(ingestion, extra, option, message):
    with pytest.raises(RewindRefusedError, match=message):
        ingestion.run(option, *extra)
    assert ingestion.zone.list_keys("") == []


# -- the runs ----------------------------------------------------------------------------------------------------
def _rewind(ingestion, from_text: str, to_text: str = ""):
    extra = ["--rewind-table", "payment", "--rewind-from", from_text]
    return ingestion.run("job-bookmark-enable", *extra, *(["--rewind-to", to_text] if to_text else []))


def _bookmark(ingestion) -> dict:
    return json.loads(ingestion.zone.read_text(bookmark_key(INGEST_JOB_NAME)))


def test_rewind_reads_the_windows_rows_again_as_a_run_of_its_own(seeded_ingestion):
    seeded_ingestion.run()
    stamps = [stamp for _, stamp in seeded_ingestion.source_versions("payment")]
    from_inclusive, to_inclusive = sorted(stamps)[len(stamps) // 2], sorted(stamps)[len(stamps) * 3 // 4]
    before = _bookmark(seeded_ingestion)

    result = _rewind(seeded_ingestion, format_timestamp(from_inclusive), format_timestamp(to_inclusive))

    in_window = [(key, stamp) for key, stamp in seeded_ingestion.source_versions("payment")
                 if from_inclusive <= stamp <= to_inclusive]
    manifest = seeded_ingestion.manifests()[-1]
    assert manifest.run_id == result.run_id and list(manifest.tables) == ["payment"]
    output = manifest.tables["payment"]
    rows = seeded_ingestion.spark.read.parquet(*(seeded_ingestion.zone.uri_of(key) for key in output.files)).collect()
    assert sorted((row.payment_id, row.last_updated) for row in rows) == in_window
    assert output.rows == len(in_window) > 0
    # Marked as rows that may correct versions already ingested, with the window it read.
    assert output.details["mode"] == CORRECTING_MODE and output.details["status"] == "written"
    assert output.window["from_exclusive"] == format_timestamp(from_inclusive - ONE_TICK)
    assert output.window["to_inclusive"] == format_timestamp(to_inclusive)
    # Every table's upper bound stays where the deltas left it; the rewind's files join the overlap's outputs.
    after = _bookmark(seeded_ingestion)
    assert after["RunId"] == result.run_id
    assert {ctx: state["to_inclusive"] for ctx, state in after["JobBookmark"].items()} == \
        {ctx: state["to_inclusive"] for ctx, state in before["JobBookmark"].items()}
    assert after["JobBookmark"]["source_payment"]["recent_outputs"][-1] == {
        "run_id": result.run_id, "to_inclusive": format_timestamp(to_inclusive), "files": output.files}
    for ctx, state in before["JobBookmark"].items():
        if ctx != "source_payment":
            assert after["JobBookmark"][ctx] == state, ctx


def test_the_delta_after_a_rewind_goes_on_from_its_bound_and_reads_nothing_the_rewind_read(seeded_ingestion):
    from totes.source.database import connect
    from totes.source.simulator import simulate

    seeded_ingestion.run()
    upper_bound = parse_timestamp(_bookmark(seeded_ingestion)["JobBookmark"]["source_payment"]["to_inclusive"])
    # A version committed late under the bound (the first run could not see it): the rewind reads it, and it lies
    # in the next delta's overlap, which must not read it a second time.
    late = upper_bound - dt.timedelta(seconds=10)
    seeded_ingestion.sql("UPDATE payment SET last_updated = %s WHERE payment_id = 1", (late,))
    rewind = _rewind(seeded_ingestion, format_timestamp(late - dt.timedelta(seconds=50)))
    assert rewind.tables[0].rows == 1
    with connect(seeded_ingestion.owner) as conn:
        simulate(conn, seed=3, new_sales_orders=3, new_purchase_orders=1, payments_to_mark_paid=4)

    delta = seeded_ingestion.run()

    payment = next(result for result in delta.tables if result.table == "payment")
    assert payment.window.previous_to_inclusive == upper_bound
    assert payment.rows == 3 + 1 + 4  # the new payments and those marked paid
    seeded_ingestion.assert_every_version_ingested_once()


def test_a_refused_window_leaves_the_zone_and_the_bookmark_as_they_were(seeded_ingestion):
    seeded_ingestion.run()
    bookmark, keys = seeded_ingestion.bookmark_text(), sorted(seeded_ingestion.zone.list_keys(""))

    with pytest.raises(RewindRefusedError, match="is in the future"):
        _rewind(seeded_ingestion, "2999-01-01 00:00")
    upper_bound = parse_timestamp(_bookmark(seeded_ingestion)["JobBookmark"]["source_payment"]["to_inclusive"])
    with pytest.raises(RewindRefusedError, match="is after what has been ingested of payment"):
        _rewind(seeded_ingestion, format_timestamp(upper_bound + ONE_TICK))

    assert seeded_ingestion.bookmark_text() == bookmark
    assert sorted(seeded_ingestion.zone.list_keys("")) == keys


# -- make rewind -------------------------------------------------------------------------------------------------
def _workflow():
    return load_workflow(local_workflow_variables())


def test_make_rewind_runs_the_ingestion_with_the_rewind_arguments_then_the_downstream_jobs():
    workflow = _workflow()

    rewind = rewind_workflow(workflow, workflow.jobs["ingest"].name, "payment", "2024-11-01 00:00", "2024-11-08")
    only_ingest = rewind_workflow(workflow, workflow.jobs["ingest"].name, "payment", "2024-11-01", downstream=False)

    ingest = rewind.jobs["ingest"]
    assert ingest.arguments == {**workflow.jobs["ingest"].arguments, "--rewind-table": "payment",
                                "--rewind-from": "2024-11-01 00:00", "--rewind-to": "2024-11-08"}
    assert ingest.max_retries == 0
    assert rewind.start_trigger.name == "rewind" and rewind.start_trigger.actions == ["ingest"]
    assert [t.name for t in rewind.triggers[1:]] == [t.name for t in workflow.triggers if t.type == "CONDITIONAL"]
    assert only_ingest.triggers == [only_ingest.start_trigger]
    assert workflow.jobs["transform"] == rewind.jobs["transform"]


def test_make_rewind_refuses_another_job_than_the_ingestion():
    workflow = _workflow()
    with pytest.raises(RewindRefusedError, match="only the ingestion job totesys-ingest rewinds, not 'totesys-load'"):
        rewind_workflow(workflow, "totesys-load", "payment", "2024-11-01")


def _errors_logged(log_file) -> list[str]:
    lines = [json.loads(line) for line in log_file.read_text().splitlines()] if log_file.exists() else []
    return [line["message"] for line in lines if line["level"] == "ERROR"]


@pytest.fixture
def local_cli(tmp_path, monkeypatch):
    """``python -m totes.local`` with its state, logs and event logs under tmp_path; the job scripts recorded, not
    run. Returns (state folder, log file, the scripts started)."""
    started = []
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    log_file = tmp_path / "logs" / "pipeline.jsonl"
    monkeypatch.setenv("TOTES_LOG_FILE", str(log_file))
    monkeypatch.setenv("TOTES_SPARK_EVENT_LOG_DIR", str(tmp_path / "spark-events"))
    monkeypatch.setenv("TOTES_LOG_CONSOLE", "text")
    monkeypatch.setattr("totes.local.__main__.default_runner", lambda **options: LocalWorkflowRunner(
        _workflow(), state_dir=state_dir, run_script=lambda *args: started.append(args), **options))
    return state_dir, log_file, started


def test_make_rewind_is_refused_while_a_workflow_run_holds_the_lock(local_cli):
    state_dir, log_file, started = local_cli
    name = _workflow().name
    with open(lock_path(state_dir, name), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # what a running `make run` or `make schedule` holds
        code = local_main(["rewind", "--table", "payment", "--from", "2024-11-01 00:00"])

    assert code == 2 and started == []
    assert _errors_logged(log_file) == [f"rewind refused: workflow {name} is already running "
                                        "(max_concurrent_runs = 1); this run was not started"]


def test_make_rewind_refuses_an_invalid_window_before_the_workflow_starts(local_cli):
    state_dir, log_file, started = local_cli

    code = local_main(["rewind", "--table", "payment", "--from", "2024-11-08", "--to", "2024-11-01"])

    assert code == 2 and started == [] and not (state_dir / "workflow_runs.jsonl").exists()
    assert _errors_logged(log_file) == ["rewind refused: FROM 2024-11-08 00:00:00.000 is after TO "
                                        "2024-11-01 00:00:00.000"]
