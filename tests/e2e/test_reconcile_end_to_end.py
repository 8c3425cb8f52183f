"""Reconciliation end to end: edits that keep last_updated, deletes and missed rows reach the warehouse.

The source is changed behind the bookmark's back, a workflow run with ``--reconcile now`` follows, and the
warehouse must then hold the source's current values (fact versions corrected in place, record ids kept),
flag the deleted rows in ``source_deletion`` without removing anything, and hold the row a window missed.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import (
    DIMENSIONS_IN_SOURCE,
    DIMENSIONS_IN_WAREHOUSE,
    SALES_PER_CURRENCY_IN_SOURCE,
    SALES_PER_CURRENCY_IN_WAREHOUSE,
    _script,
    rows_of,
)
from totes.settings import INGEST_JOB_NAME, SOURCE_SECRET_ID
from totes.source.database import connect as source_connect
from totes.warehouse.database import connect as warehouse_connect

pytestmark = pytest.mark.slow

# The latest version of each payment the source still has, per currency, in the warehouse.
LIVE_PAYMENTS_IN_WAREHOUSE = (
    "SELECT c.currency_code, SUM(p.payment_amount), COUNT(*) "
    "FROM (SELECT DISTINCT ON (payment_id) * FROM fact_payment "
    "      ORDER BY payment_id, last_updated_date DESC, last_updated_time DESC) p "
    "JOIN dim_currency c USING (currency_id) "
    "WHERE NOT EXISTS (SELECT FROM source_deletion d WHERE d.source_table = 'payment' AND d.source_id = p.payment_id) "
    "GROUP BY c.currency_code")
PAYMENTS_IN_SOURCE = ("SELECT c.currency_code, SUM(p.payment_amount), COUNT(*) FROM payment p "
                      "JOIN currency c USING (currency_id) GROUP BY c.currency_code")


def _sql(credentials, statement, params=None):
    with source_connect(credentials) as conn:
        cursor = conn.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def test_reconciliation_brings_edits_deletes_and_missed_rows_into_the_warehouse(pipeline):
    source, warehouse, run_workflow = pipeline
    run_workflow()
    ingest = _script("ingest_totesys")
    ingestion_zone = (run_workflow.written / "ingestion").as_uri()

    def reconcile_and_run_workflow():
        # What the daily reconciling run of the workflow does: the ingestion job reconciles first, then the
        # usual transform and load follow (run_workflow's own ingestion then finds nothing new).
        ingest.main(["ingest", "--JOB_NAME", INGEST_JOB_NAME, "--ingestion-zone", ingestion_zone,
                     "--source-secret-id", SOURCE_SECRET_ID, "--read-lag-seconds", "0",
                     "--job-bookmark-option", "job-bookmark-enable", "--reconcile", "now"])
        return run_workflow()

    record_id_before = rows_of(warehouse, "SELECT sales_record_id FROM fact_sales_order WHERE sales_order_id = 3",
                               warehouse_connect)
    # Edits that keep last_updated (as the 39 sales orders of the real snapshots).
    _sql(source, "UPDATE sales_order SET units_sold = units_sold + 1000 WHERE sales_order_id = 3")
    _sql(source, "UPDATE payment SET payment_amount = payment_amount + 1.25 WHERE payment_id = 5")
    _sql(source, "UPDATE design SET design_name = 'Renamed quietly' WHERE design_id = 2")
    # Deletes: a payment and its transaction (the payment first: its foreign key restricts).
    payment_id, transaction_id = _sql(source, "SELECT payment_id, transaction_id FROM payment "
                                              "ORDER BY payment_id DESC LIMIT 1")[0]
    _sql(source, "DELETE FROM payment WHERE payment_id = %s", (payment_id,))
    _sql(source, 'DELETE FROM "transaction" WHERE transaction_id = %s', (transaction_id,))
    # A row committed below every window already read.
    _sql(source, "INSERT INTO sales_order (created_at, last_updated, design_id, staff_id, counterparty_id, units_sold, "
                 "unit_price, currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id) "
                 "SELECT now() - interval '1 hour', now() - interval '1 hour', design_id, staff_id, counterparty_id, "
                 "7, 9.99, currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id "
                 "FROM sales_order WHERE sales_order_id = 1")
    missed_id = _sql(source, "SELECT max(sales_order_id) FROM sales_order")[0][0]

    run_workflow()  # a plain delta sees none of it
    assert rows_of(warehouse, "SELECT count(*) FROM fact_sales_order WHERE sales_order_id = %s" % missed_id,
                   warehouse_connect) == [(0,)]

    reconcile_and_run_workflow()

    assert rows_of(warehouse, "SELECT sales_record_id, units_sold FROM fact_sales_order WHERE sales_order_id = 3",
                   warehouse_connect) == [(record_id_before[0][0],
                                           _sql(source, "SELECT units_sold FROM sales_order WHERE sales_order_id = 3")[0][0])]
    assert sorted(rows_of(warehouse, SALES_PER_CURRENCY_IN_WAREHOUSE, warehouse_connect)) == \
        sorted(_sql(source, SALES_PER_CURRENCY_IN_SOURCE))
    assert sorted(rows_of(warehouse, LIVE_PAYMENTS_IN_WAREHOUSE, warehouse_connect)) == \
        sorted(_sql(source, PAYMENTS_IN_SOURCE))
    assert rows_of(warehouse, DIMENSIONS_IN_WAREHOUSE["dim_design"] + " WHERE design_id = 2", warehouse_connect) == \
        _sql(source, DIMENSIONS_IN_SOURCE["dim_design"] + " WHERE design_id = 2")
    # Deleted rows are flagged, never removed.
    assert sorted(rows_of(warehouse, "SELECT source_table, source_id FROM source_deletion", warehouse_connect)) == \
        [("payment", payment_id), ("transaction", transaction_id)]
    assert rows_of(warehouse, f"SELECT count(*) FROM fact_payment WHERE payment_id = {payment_id}",
                   warehouse_connect)[0][0] >= 1
    assert rows_of(warehouse, f"SELECT count(*) FROM dim_transaction WHERE transaction_id = {transaction_id}",
                   warehouse_connect) == [(1,)]
    assert rows_of(warehouse, f"SELECT units_sold FROM fact_sales_order WHERE sales_order_id = {missed_id}",
                   warehouse_connect) == [(7,)]

    # Reconciling again finds nothing and changes nothing.
    counts = {table: rows_of(warehouse, f"SELECT count(*) FROM {table}", warehouse_connect)
              for table in ("fact_sales_order", "fact_payment", "dim_design", "source_deletion")}
    reconcile_and_run_workflow()
    assert counts == {table: rows_of(warehouse, f"SELECT count(*) FROM {table}", warehouse_connect)
                      for table in counts}
