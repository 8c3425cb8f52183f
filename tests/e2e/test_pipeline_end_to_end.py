"""The whole pipeline on real PostgreSQL and real Spark: source → ingestion → processed → warehouse.

After a full run and two deltas from the change simulator, the warehouse is compared with SQL written
independently over the source database, and the named Athena queries (run locally on DuckDB over the processed
zone's Iceberg tables) with the same queries run on the warehouse.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import (
    VERSIONS_IN_SOURCE,
    VERSIONS_IN_WAREHOUSE,
    check_warehouse_against_source,
    normalised,
    rows_of,
)
from totes.local.query import named_queries, run_query
from totes.source.database import connect as source_connect
from totes.source.simulator import simulate
from totes.transform import fact_writer
from totes.warehouse.database import connect as warehouse_connect

pytestmark = pytest.mark.slow


def test_full_run_then_two_deltas_match_the_source_exactly(pipeline):
    source, warehouse, run_workflow = pipeline
    versions_seen = {fact: set() for fact in VERSIONS_IN_SOURCE}

    run_workflow()
    check_warehouse_against_source(source, warehouse, versions_seen)
    for seed in (1, 2):
        before = _fact_counts(warehouse)
        with source_connect(source) as conn:
            simulate(conn, seed=seed, new_sales_orders=6, new_purchase_orders=3, payments_to_mark_paid=12)
        run_workflow()
        check_warehouse_against_source(source, warehouse, versions_seen)
        after = _fact_counts(warehouse)
        # Only the changes were loaded: the new orders, their payments, and the newly paid versions.
        assert {fact: after[fact] - before[fact] for fact in after} == \
            {"fact_sales_order": 6, "fact_purchase_order": 3, "fact_payment": 9 + 12}


def test_deltas_checking_big_parents_only_where_they_refer_to_them_match_the_source_exactly(pipeline,
                                                                                          monkeypatch):
    # The threshold of a 5-million-row source, scaled to this one: every lookup table is a "big" parent, so each
    # delta's facts check their foreign keys against the keys they refer to only, read from the current state.
    monkeypatch.setattr(fact_writer, "BIG_PARENT_ROWS", 1)
    source, warehouse, run_workflow = pipeline
    versions_seen = {fact: set() for fact in VERSIONS_IN_SOURCE}
    run_workflow()
    check_warehouse_against_source(source, warehouse, versions_seen)

    for seed in (3, 4):
        with source_connect(source) as conn:
            simulate(conn, seed=seed, new_sales_orders=4, new_purchase_orders=2, payments_to_mark_paid=6)
        run_workflow()
        check_warehouse_against_source(source, warehouse, versions_seen)


def _fact_counts(warehouse) -> dict[str, int]:
    return {fact: rows_of(warehouse, f"SELECT COUNT(*) FROM {fact}", warehouse_connect)[0][0]
            for fact in VERSIONS_IN_WAREHOUSE}


def test_named_queries_on_the_processed_zone_agree_with_the_warehouse(pipeline):
    source, warehouse, run_workflow = pipeline
    run_workflow()
    with source_connect(source) as conn:
        simulate(conn, seed=5, new_sales_orders=4, new_purchase_orders=2, payments_to_mark_paid=8)
    run_workflow()

    processed = (run_workflow.written / "processed").as_uri()
    for name, sql in named_queries().items():
        _, athena_rows = run_query(sql, processed, "e2e_processed")
        assert athena_rows, name
        assert normalised(athena_rows) == normalised(rows_of(warehouse, sql, warehouse_connect)), name


def test_no_password_in_any_file_the_pipeline_writes(pipeline):
    _source, _warehouse, run_workflow = pipeline
    run_workflow()

    written = [path for path in run_workflow.written.rglob("*") if path.is_file() and "secrets" not in path.parts]
    assert any(path.suffix == ".jsonl" for path in written) and any(path.suffix == ".parquet" for path in written)
    for path in written:
        content = path.read_bytes()
        for password in run_workflow.passwords:
            assert password.encode() not in content, f"a password is written in {path}"
