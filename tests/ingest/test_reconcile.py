"""Reconciliation: edits that keep last_updated, deleted rows and rows a window missed are found and handled."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

import pytest

from totes.ingest.reconcile import BOOKMARK_CTX, reconciliation_due, row_hash, row_hash_sql
from totes.manifests import list_manifests
from totes.settings import INGEST_JOB_NAME
from totes.tables import SOURCE_TABLES, source_table
from totes.bookmarks import JobBookmark

pytestmark = pytest.mark.slow


def _reconcile(ingestion):
    ingestion.run("job-bookmark-enable", "--reconcile", "now")
    manifests = list_manifests(ingestion.zone, INGEST_JOB_NAME)
    reconciliations = [m for m in manifests if any(o.details.get("mode") == "reconcile" for o in m.tables.values())]
    return reconciliations[-1]


def test_row_hash_is_the_same_in_postgresql_and_spark_for_every_type_and_null(seeded_ingestion):
    ingestion = seeded_ingestion
    # Awkward values: NULLs in nullable columns, unicode, separators inside text, zero milliseconds, negatives.
    ingestion.sql("UPDATE address SET address_line_2 = NULL, district = 'Ünïcødé \x1f tab\tend' WHERE address_id = 1")
    ingestion.sql("UPDATE address SET address_line_2 = '', district = NULL WHERE address_id = 2")
    ingestion.sql("UPDATE payment SET payment_amount = -0.50, last_updated = '2024-01-02 03:04:05.000' "
                  "WHERE payment_id = 1")
    ingestion.sql("UPDATE payment SET payment_amount = 0, paid = true WHERE payment_id = 2")
    ingestion.run()
    for table in SOURCE_TABLES:
        in_postgres = dict(ingestion.sql(
            f'SELECT "{table.primary_key}", {row_hash_sql(table)} FROM {table.quoted_name}'))
        files = [ingestion.zone.uri_of(k) for m in ingestion.manifests() for k in m.tables[table.name].files]
        in_spark = {row[0]: bytes(row[1]) for row in ingestion.spark.read.parquet(*files)
                    .select(table.primary_key, row_hash(table)).collect()}
        assert in_spark == {key: bytes(value) for key, value in in_postgres.items()}, table.name


def test_nothing_differs_after_plain_deltas_so_nothing_is_written(seeded_ingestion):
    ingestion = seeded_ingestion
    ingestion.run()
    ingestion.sql("UPDATE payment SET paid = true, last_updated = clock_timestamp() WHERE payment_id <= 5")
    ingestion.run()
    manifest = _reconcile(ingestion)
    for name, output in manifest.tables.items():
        assert output.details["changed"] == output.details["missing"] == output.details["deleted"] == 0, name
        assert output.files == [] and output.details["deletion_files"] == []
    sales = manifest.tables["sales_order"].details
    assert sales["compared"] == ingestion.sql("SELECT count(*) FROM sales_order")[0][0]


def test_edit_without_last_updated_is_reingested_with_the_same_version_key(seeded_ingestion):
    ingestion = seeded_ingestion
    ingestion.run()
    before = ingestion.sql("SELECT last_updated FROM sales_order WHERE sales_order_id = 3")[0][0]
    ingestion.sql("UPDATE sales_order SET units_sold = units_sold + 1000 WHERE sales_order_id = 3")
    ingestion.sql("UPDATE design SET design_name = 'Renamed quietly' WHERE design_id = 2")
    manifest = _reconcile(ingestion)
    sales = manifest.tables["sales_order"]
    assert (sales.details["changed"], sales.details["reingested"]) == (1, 1)
    row = ingestion.spark.read.parquet(*(ingestion.zone.uri_of(k) for k in sales.files)).collect()[0]
    units = ingestion.sql("SELECT units_sold FROM sales_order WHERE sales_order_id = 3")[0][0]
    assert (row.sales_order_id, row.last_updated, row.units_sold) == (3, before, units)
    assert manifest.tables["design"].details["changed"] == 1
    # Reconciled once: the next reconciliation finds nothing left.
    again = _reconcile(ingestion)
    assert sum(o.details["changed"] + o.details["missing"] for o in again.tables.values()) == 0


def test_deleted_rows_are_recorded_with_their_last_version_and_not_again(seeded_ingestion):
    ingestion = seeded_ingestion
    ingestion.run()
    deleted = ingestion.sql("SELECT payment_id, last_updated, transaction_id FROM payment ORDER BY payment_id LIMIT 2")
    ids = [row[0] for row in deleted]
    ingestion.sql("DELETE FROM payment WHERE payment_id = ANY(%s)", (ids,))
    ingestion.sql('DELETE FROM "transaction" WHERE transaction_id = %s', (deleted[0][2],))
    manifest = _reconcile(ingestion)
    payment = manifest.tables["payment"]
    assert payment.details["deleted"] == 2 and payment.files == []
    recorded = ingestion.spark.read.parquet(*(ingestion.zone.uri_of(k) for k in payment.details["deletion_files"]))
    assert sorted((r.source_id, r.last_updated) for r in recorded.collect()) == sorted((r[0], r[1]) for r in deleted)
    assert manifest.tables["transaction"].details["deleted"] == 1
    assert _reconcile(ingestion).tables["payment"].details["deleted"] == 0


def test_row_committed_below_a_read_window_is_found_missing_and_ingested(seeded_ingestion):
    ingestion = seeded_ingestion
    ingestion.run()
    # A row stamped an hour ago, committed only now: below every window already read (as by a transaction
    # held open longer than the wait and the overlap).
    ingestion.sql("INSERT INTO currency (currency_code, created_at, last_updated) "
                  "VALUES ('CHF', now() - interval '1 hour', now() - interval '1 hour')")
    ingestion.run()
    assert ("CHF",) not in [(r.currency_code,) for r in ingestion.ingested_rows("currency")]
    manifest = _reconcile(ingestion)
    assert manifest.tables["currency"].details["missing"] == 1
    assert "CHF" in [r.currency_code for r in ingestion.ingested_rows("currency")]


def test_row_updated_after_the_last_delta_is_left_to_the_next_delta_not_called_deleted(seeded_ingestion):
    ingestion = seeded_ingestion
    ingestion.run()
    ingestion.sql("UPDATE payment SET paid = NOT paid, last_updated = clock_timestamp() WHERE payment_id = 4")
    manifest = _reconcile(ingestion)  # the reconciliation runs before this job run's delta
    payment = manifest.tables["payment"].details
    assert (payment["changed"], payment["missing"], payment["deleted"]) == (0, 0, 0)
    ingestion.assert_every_version_ingested_once(["payment"])


def test_the_schedule_starts_with_the_first_delta_and_reconciles_when_due(seeded_ingestion):
    ingestion = seeded_ingestion
    now = dt.datetime.now(dt.timezone.utc)
    assert not reconciliation_due(JobBookmark(ingestion.zone, INGEST_JOB_NAME, "job-bookmark-enable"), 24, now)
    ingestion.run("job-bookmark-enable", "--reconcile-every-hours", "24")
    after_first = JobBookmark(ingestion.zone, INGEST_JOB_NAME, "job-bookmark-enable")
    # A full read needs no reconciliation right after it: the first one is due a period later.
    assert not reconciliation_due(after_first, 24, dt.datetime.now(dt.timezone.utc))
    assert reconciliation_due(after_first, 24, dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=25))
    assert not reconciliation_due(after_first, 0, dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=25))

    time.sleep(0.5)
    ingestion.run("job-bookmark-enable", "--reconcile-every-hours", "0.0001")  # due: reconciles, then the delta
    after_second = JobBookmark(ingestion.zone, INGEST_JOB_NAME, "job-bookmark-enable")
    assert after_second.state(BOOKMARK_CTX)["through_run_id"] < after_second.last_accounted_run_id
    assert not reconciliation_due(after_second, 24, dt.datetime.now(dt.timezone.utc))
    assert reconciliation_due(after_second, 24, dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=25))


def test_reconcile_now_without_an_enabled_bookmark_is_a_clear_argument_error(seeded_ingestion):
    from totes.ingest.errors import JobArgumentError

    with pytest.raises(JobArgumentError, match="job-bookmark-enable"):
        seeded_ingestion.run("job-bookmark-disable", "--reconcile", "now")
    with pytest.raises(JobArgumentError, match="--reconcile must be one of"):
        seeded_ingestion.run("job-bookmark-enable", "--reconcile", "sometimes")


def test_a_job_run_that_reconciled_counts_the_rows_it_reingested_in_its_rows_out(seeded_ingestion, tmp_path):
    """`make status` and the dashboard's job runs: a run that reconciled first committed two runs, both count."""
    import json

    from totes.dashboard.job_runs import JobRunRecord, LocalJobRunLog
    from totes.local.runner import LocalWorkflowRunner
    from totes.local.workflow import load_workflow
    from totes.settings import SOURCE_SECRET_ID

    from tests.ingest.conftest import INGEST_SCRIPT

    ingestion = seeded_ingestion
    ingestion.run()
    # For the reconciliation: an edit that keeps last_updated. For the delta after it: two payments paid.
    ingestion.sql("UPDATE sales_order SET units_sold = units_sold + 1000 WHERE sales_order_id = 3")
    ingestion.sql("UPDATE payment SET paid = NOT paid, last_updated = clock_timestamp() WHERE payment_id <= 2")
    # The ingestion job alone, as the workflow starts it, asked to reconcile first.
    arguments = {"--ingestion-zone": ingestion.zone.uri, "--source-secret-id": SOURCE_SECRET_ID,
                 "--job-bookmark-option": "job-bookmark-enable", "--read-lag-seconds": "0", "--reconcile": "now"}
    definition = {"name": "wf",
                  "jobs": {"ingest": {"name": INGEST_JOB_NAME, "script": str(INGEST_SCRIPT), "max_retries": 0,
                                      "arguments": arguments}},
                  "triggers": [{"name": "start", "type": "ON_DEMAND", "actions": [{"job": "ingest"}]}]}
    (tmp_path / "workflow.json").write_text(json.dumps(definition))
    state_dir = tmp_path / "state"

    workflow = load_workflow({}, tmp_path / "workflow.json")
    (job_run,) = LocalWorkflowRunner(workflow, state_dir=state_dir).run().job_runs

    assert job_run.JobRunState == "SUCCEEDED", job_run.ErrorMessage
    reconciliation, delta = [m for m in ingestion.manifests() if m.glue_job_run_id == job_run.Id]
    reconciled = reconciliation.tables["sales_order"].details
    assert (reconciled["mode"], reconciled["changed"], reconciled["reingested"]) == ("reconcile", 1, 1)
    assert delta.tables["payment"].rows == 2 and delta.tables["sales_order"].details["status"] == "unchanged"
    assert {name: rows for name, rows in job_run.RowsOut.items() if rows} == {"sales_order": 1, "payment": 2}
    assert job_run.RowsIn == job_run.RowsOut  # the ingestion reads what it writes
    assert job_run.ManifestRunId == delta.run_id
    # What `make status` and the dashboard read back: the job run log.
    (record,) = LocalJobRunLog(state_dir / "job_runs.jsonl").recent_runs()
    assert JobRunRecord.total(record.rows_out) == 3
