"""`make query` reads the processed zone's Iceberg tables through the JDBC catalog, offline, with DuckDB.

One processed zone, built by the real transformation job from a full run and a delta that corrects a sales order
and pays a payment, is read three ways: DuckDB's views (under test), Spark's Iceberg reader (the oracle) and the
named queries on both.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.transform.conftest import TransformHarness, base_rows, load_transform_job, ts
from totes.local import query
from totes.local.query import ExtensionMissingError, NoTablesError, connect, main, named_queries, run_query
from totes.settings import PROCESSED_DATABASE
from totes.star import WAREHOUSE_TABLES
from totes.zones import ZoneStore

pytestmark = pytest.mark.slow

QUARANTINE_TABLES = {"quarantine_sales_order", "quarantine_purchase_order", "quarantine_payment"}


@pytest.fixture(scope="module")
def processed(spark, tmp_path_factory) -> TransformHarness:
    root = tmp_path_factory.mktemp("query")
    harness = TransformHarness(spark, ZoneStore.for_uri(str(root / "ingestion")),
                               ZoneStore.for_uri(str(root / "processed")), load_transform_job())
    harness.ingest(base_rows())
    harness.run()
    t, later = ts(), ts(10)
    harness.ingest({
        # Sales order 2 corrected to 50,000 units; payment 1 paid.
        "sales_order": [(2, t, later, 2, 1, 2, 50000, Decimal("3.94"), 2, "2024-11-05", "2024-11-07", 2)],
        "payment": [(1, t, later, 1, 1, Decimal("205952.22"), 1, 1, True, "2024-11-08", 67305075, 31622269)],
    })
    harness.run()
    return harness


def test_every_published_table_is_a_view_and_the_transformations_state_is_not(processed):
    with connect(processed.processed.uri, PROCESSED_DATABASE) as connection:
        views = {row[0] for row in connection.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal")
                 .fetchall()}

    assert views == {table.name for table in WAREHOUSE_TABLES} | QUARANTINE_TABLES
    assert not any(view.startswith("current_") for view in views)


@pytest.mark.parametrize("table", ["fact_sales_order", "fact_payment", "dim_staff", "dim_date"])
def test_a_view_holds_the_rows_of_the_tables_current_snapshot(processed, table):
    columns, rows = run_query(f"SELECT * FROM {table}", processed.processed.uri, PROCESSED_DATABASE)
    expected = processed.spark.table(processed.catalog.table(table))

    assert columns == expected.columns
    assert sorted(rows) == sorted(tuple(row) for row in expected.collect())


def test_the_views_see_the_deltas_versions(processed):
    _, versions = run_query("SELECT sales_order_id, units_sold FROM fact_sales_order ORDER BY 1, 2",
                            processed.processed.uri, PROCESSED_DATABASE)

    assert versions == [(1, 84754), (2, 42972), (2, 50000)]


def test_named_queries_run_unchanged_and_agree_with_spark_on_the_same_tables(processed):
    spark = processed.spark
    for table in WAREHOUSE_TABLES:
        spark.table(processed.catalog.table(table.name)).createOrReplaceTempView(table.name)
    try:
        for name, sql in named_queries().items():
            _, rows = run_query(sql, processed.processed.uri, PROCESSED_DATABASE)
            assert rows, name
            assert rows == [tuple(row) for row in spark.sql(sql).collect()], name
    finally:
        for table in WAREHOUSE_TABLES:
            spark.catalog.dropTempView(table.name)


def test_the_latest_version_wins_in_the_named_queries(processed):
    _, top_designs = run_query(named_queries()["top_designs"], processed.processed.uri, PROCESSED_DATABASE)
    _, unpaid = run_query(named_queries()["unpaid_payments"], processed.processed.uri, PROCESSED_DATABASE)

    assert top_designs == [(1, "Wooden", 84754, 1), (2, "Bronze", 50000, 1)]
    assert [(currency, kind, count) for currency, kind, count, _amount, _overdue in unpaid] == \
        [("EUR", "PURCHASE_PAYMENT", 1), ("USD", "SALES_RECEIPT", 1)]


def test_a_zone_the_transformation_never_wrote_is_a_clear_error_not_an_empty_answer(tmp_path):
    zone = (tmp_path / "processed").as_uri()

    with pytest.raises(NoTablesError, match=f"no Iceberg table of {zone} in namespace {PROCESSED_DATABASE}"):
        run_query("SELECT 1", zone, PROCESSED_DATABASE)


def test_the_command_prints_a_named_query_and_reports_bad_sql(processed, capsys):
    zone = ["--zone", processed.processed.uri, "--database", PROCESSED_DATABASE]

    assert main(["--name", "top_designs", *zone]) == 0
    assert "Wooden" in capsys.readouterr().out
    assert main(["SELECT * FROM no_such_table", *zone]) == 1
    error = capsys.readouterr().err
    assert error.startswith("query failed:") and "no_such_table" in error


def test_the_extensions_are_the_installed_packages_files_and_nothing_loads_by_itself(processed):
    with connect(processed.processed.uri, PROCESSED_DATABASE) as connection:
        # Loaded from a file: nothing is installed into an extension directory, nothing fetched.
        loaded = dict(connection.execute("SELECT extension_name, installed FROM duckdb_extensions() "
                                         "WHERE loaded AND install_mode IS DISTINCT FROM 'STATICALLY_LINKED'")
                      .fetchall())
        automatic = connection.execute("SELECT current_setting('autoinstall_known_extensions'), "
                                       "current_setting('autoload_known_extensions')").fetchone()

    assert loaded == {"avro": False, "iceberg": False}
    assert automatic == (False, False)


def test_an_extension_missing_at_duckdbs_version_says_which_package_to_pin(monkeypatch):
    monkeypatch.setattr(query.duckdb, "__version__", "9.9.9")

    with pytest.raises(ExtensionMissingError, match="duckdb 9.9.9 .* pins duckdb-extension-avro"):
        query.load_extensions(query.duckdb.connect())
