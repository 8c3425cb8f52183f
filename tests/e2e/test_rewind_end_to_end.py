"""Rewind end to end: a silent fix in the source reaches the warehouse through ``make rewind``'s workflow run.

A buggy application's repair changes payment amounts without moving ``last_updated``, so the deltas never see
it. The rewind's workflow run (the runner, the three real Glue scripts) re-reads the window; the warehouse must
then agree with SQL over the source, the fixed fact versions corrected in place (record ids kept), no version
loaded twice, and the regular deltas go on as before.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.conftest import PROCESSED_CATALOG_ARGS
from tests.e2e.conftest import VERSIONS_IN_SOURCE, check_warehouse_against_source, rows_of
from totes.local.__main__ import rewind_workflow
from totes.local.runner import LocalWorkflowRunner
from totes.local.workflow import load_workflow
from totes.settings import INGEST_JOB_NAME, LOCAL_NAME_PREFIX, SOURCE_SECRET_ID, WAREHOUSE_SECRET_ID
from totes.source.database import connect as source_connect
from totes.source.simulator import simulate
from totes.warehouse.database import connect as warehouse_connect

pytestmark = pytest.mark.slow

FROM = "2024-11-01 00:00"  # the generated source's last two weeks
AMOUNTS_IN_WAREHOUSE = "SELECT payment_id, payment_record_id, payment_amount FROM fact_payment WHERE payment_id IN ({})"


def test_rewind_after_a_silent_source_fix_brings_the_warehouse_back_to_the_sources_truth(pipeline):
    source, warehouse, run_workflow = pipeline
    versions_seen = {fact: set() for fact in VERSIONS_IN_SOURCE}
    run_workflow()
    check_warehouse_against_source(source, warehouse, versions_seen)
    zones = run_workflow.written
    workflow = load_workflow({
        "name_prefix": LOCAL_NAME_PREFIX,
        "ingestion_zone_uri": (zones / "ingestion").as_uri(), "processed_zone_uri": (zones / "processed").as_uri(),
        "source_secret_id": SOURCE_SECRET_ID, "warehouse_secret_id": WAREHOUSE_SECRET_ID,
        "ingestion_database": "e2e_ingestion", "processed_database": "e2e_processed",
        "processed_catalog": PROCESSED_CATALOG_ARGS[1],
    })
    workflow.jobs["ingest"].arguments["--read-lag-seconds"] = "0"  # rows stamped by the database clock

    # The repair: amounts changed, last_updated kept, on the window's payments only.
    fixed = [row[0] for row in rows_of(source, "UPDATE payment SET payment_amount = payment_amount + 0.01 "
                                               f"WHERE last_updated >= '{FROM}' RETURNING payment_id", source_connect)]
    assert len(fixed) >= 3
    ids = ", ".join(str(payment_id) for payment_id in fixed)
    before = rows_of(warehouse, AMOUNTS_IN_WAREHOUSE.format(ids), warehouse_connect)
    assert sorted(row[0] for row in before) == sorted(fixed)  # one version each in the warehouse so far
    payment_rows = rows_of(warehouse, "SELECT count(*) FROM fact_payment", warehouse_connect)
    run_workflow()  # a delta does not see the fix
    with pytest.raises(AssertionError):
        check_warehouse_against_source(source, warehouse, versions_seen)

    result = LocalWorkflowRunner(rewind_workflow(workflow, INGEST_JOB_NAME, "payment", FROM),
                                 state_dir=zones / "state").run()

    assert result.succeeded, [(run.JobName, run.ErrorMessage) for run in result.job_runs]
    assert [run.JobName for run in result.job_runs] == [job.name for job in workflow.jobs.values()]
    in_window = rows_of(source, f"SELECT count(*) FROM payment WHERE last_updated >= '{FROM}'", source_connect)
    assert result.job_runs[0].RowsOut == {"payment": in_window[0][0]}
    check_warehouse_against_source(source, warehouse, versions_seen)
    after = rows_of(warehouse, AMOUNTS_IN_WAREHOUSE.format(ids), warehouse_connect)
    # Corrected in place: the same record, the source's amount, and no row added.
    assert sorted(after) == sorted((payment_id, record_id, amount + Decimal("0.01"))
                                   for payment_id, record_id, amount in before)
    assert rows_of(warehouse, "SELECT count(*) FROM fact_payment", warehouse_connect) == payment_rows

    # The regular deltas go on from where they were: the next changes arrive once, nothing twice.
    with source_connect(source) as conn:
        simulate(conn, seed=4, new_sales_orders=3, new_purchase_orders=1, payments_to_mark_paid=5)
    run_workflow()
    check_warehouse_against_source(source, warehouse, versions_seen)
