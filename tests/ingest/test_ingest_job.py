"""The ingestion Glue script end to end: real PostgreSQL, real Spark over JDBC, a local zone."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from totes.bookmarks import JobBookmark
from totes.ingest.run import IngestionRun, SourceReader
from totes.tables import expected_spark_schema
from totes.source.simulator import simulate
from totes.spark_session import use_pipeline_sql_conf
from totes.source.database import connect
from totes.tables import SOURCE_TABLES


def test_first_run_reads_every_table_in_full_with_exact_counts_and_types(seeded_ingestion):
    result = seeded_ingestion.run()

    manifest, = seeded_ingestion.manifests()
    assert manifest.run_id == result.run_id
    for table in SOURCE_TABLES:
        source_count = seeded_ingestion.sql(f"SELECT count(*) FROM {table.quoted_name}")[0][0]
        assert source_count > 0, table.name
        assert manifest.tables[table.name].rows == source_count, table.name
        assert manifest.tables[table.name].window["from_exclusive"] is None
        files = [seeded_ingestion.zone.uri_of(key) for key in manifest.tables[table.name].files]
        written_df = seeded_ingestion.spark.read.parquet(*files)
        assert {f.name: f.dataType for f in written_df.schema.fields} == {
            f.name: f.dataType for f in expected_spark_schema(table).fields}, table.name
        assert written_df.columns == list(table.column_names)
    assert seeded_ingestion.ingested_versions("payment") == seeded_ingestion.source_versions("payment")


def test_values_arrive_unchanged_exact_decimals_enums_as_text_and_nulls_kept(seeded_ingestion):
    seeded_ingestion.run()

    for table in ("payment", "address", "transaction", "payment_type"):
        definition = next(t for t in SOURCE_TABLES if t.name == table)
        columns = ", ".join(column.select_expression for column in definition.columns)
        source_rows = seeded_ingestion.sql(f"SELECT {columns} FROM {definition.quoted_name} ORDER BY 1")
        ingested = sorted((tuple(row) for row in seeded_ingestion.ingested_rows(table)), key=lambda row: row[0])
        assert ingested == source_rows, table
    assert any(row.address_line_2 is None for row in seeded_ingestion.ingested_rows("address"))


def test_files_keep_microsecond_utc_wall_clock_timestamps_in_a_session_started_with_sparks_defaults(
        seeded_ingestion):
    # A Glue job's session starts with Spark's defaults: INT96 parquet timestamps, the JVM's time zone.
    spark = seeded_ingestion.spark
    spark.conf.set("spark.sql.parquet.outputTimestampType", "INT96")
    spark.conf.set("spark.sql.session.timeZone", "America/New_York")
    try:
        seeded_ingestion.run("job-bookmark-enable", "--tables", "payment")
    finally:
        use_pipeline_sql_conf(spark)

    files = seeded_ingestion.manifests()[-1].tables["payment"].files
    written = pa.concat_tables([pq.read_table(seeded_ingestion.zone.uri_of(key).removeprefix("file://"))
                                for key in files])
    assert written.schema.field("last_updated").type == pa.timestamp("us", tz="UTC")
    ingested = sorted(zip(written.column("payment_id").to_pylist(),
                          (stamp.replace(tzinfo=None) for stamp in written.column("last_updated").to_pylist())))
    assert ingested == seeded_ingestion.source_versions("payment")


def test_delta_run_reads_only_rows_inserted_or_updated_since_the_commit(seeded_ingestion):
    seeded_ingestion.run()
    with connect(seeded_ingestion.owner) as conn:
        changes = simulate(conn, seed=11, new_sales_orders=5, new_purchase_orders=3, payments_to_mark_paid=9)

    delta = seeded_ingestion.run()

    rows = {result.table: result.rows for result in delta.tables}
    assert rows["sales_order"] == 5
    assert rows["purchase_order"] == 3
    assert rows["transaction"] == 8
    assert rows["payment"] == 8 + 9
    for table in ("address", "counterparty", "currency", "department", "design", "payment_type", "staff"):
        assert rows[table] == 0, table
        assert delta.tables[[r.table for r in delta.tables].index(table)].files == []
    seeded_ingestion.assert_every_version_ingested_once()
    # The payments marked paid keep their unpaid version from the first run as history.
    assert len(seeded_ingestion.ingested_versions("payment")) == len(seeded_ingestion.source_versions("payment")) + 9
    assert changes["updated"]["payment"] == 9


def tables_read_through_spark(monkeypatch) -> list[str]:
    """The tables the ingestion reads through Spark JDBC from now on, in the order it starts the reads."""
    read_through_spark = []
    spark_query = SourceReader.query

    def recording_query(self, sql, dbtable, *args, **kwargs):
        read_through_spark.append(dbtable)
        return spark_query(self, sql, dbtable, *args, **kwargs)

    monkeypatch.setattr(SourceReader, "query", recording_query)
    return read_through_spark


def test_delta_reads_through_spark_only_the_tables_with_rows_in_their_window(seeded_ingestion, monkeypatch):
    first = seeded_ingestion.run()
    read_through_spark = tables_read_through_spark(monkeypatch)
    with connect(seeded_ingestion.owner) as conn:
        simulate(conn, seed=12, new_sales_orders=2, new_purchase_orders=1, payments_to_mark_paid=3)

    delta = seeded_ingestion.run()

    assert sorted(read_through_spark) == ["payment", "purchase_order", "sales_order", "transaction"]
    # A table skipped still moves on: its window is recorded and its bookmark advances like the others'.
    bookmark = JobBookmark(seeded_ingestion.zone, "totesys-ingest", "job-bookmark-enable")
    manifest = seeded_ingestion.manifests()[-1]
    for result in delta.tables:
        assert result.window.from_exclusive is not None, result.table
        assert manifest.tables[result.table].window == result.window.to_dict(), result.table
        assert bookmark.state(f"source_{result.table}")["to_inclusive"] == result.window.to_dict()["to_inclusive"]
    assert {r.table: r.rows for r in delta.tables if r.rows} == {
        "sales_order": 2, "purchase_order": 1, "transaction": 3, "payment": 3 + 3}
    assert first.total_rows > 0
    seeded_ingestion.assert_every_version_ingested_once()


def test_a_window_holding_only_versions_already_ingested_is_not_read_again(seeded_ingestion, monkeypatch):
    seeded_ingestion.run()
    with connect(seeded_ingestion.owner) as conn:
        simulate(conn, seed=12, new_sales_orders=2, new_purchase_orders=1, payments_to_mark_paid=3)
    busy = seeded_ingestion.run()
    read_through_spark = tables_read_through_spark(monkeypatch)

    # The next window re-reads the busy run's last minutes (the overlap): all of it was ingested already.
    quiet = seeded_ingestion.run()

    assert busy.total_rows > 0
    assert read_through_spark == []
    assert quiet.total_rows == 0
    seeded_ingestion.assert_every_version_ingested_once()


def test_delta_reads_every_table_while_a_transaction_too_old_to_wait_for_is_open(seeded_ingestion, monkeypatch):
    seeded_ingestion.run()
    read_through_spark = tables_read_through_spark(monkeypatch)
    with connect(seeded_ingestion.owner) as open_transaction:
        open_transaction.execute("SELECT 1 FROM currency LIMIT 1")  # the transaction has started

        # Its rows may commit with stamps under the bound at any moment: no window is skipped on its account.
        delta = seeded_ingestion.run("job-bookmark-enable", "--max-transaction-wait-seconds", "0")

    assert sorted(read_through_spark) == sorted(table.name for table in SOURCE_TABLES)
    assert delta.upper_bound_note is not None


def test_run_with_no_changes_writes_no_data_files(seeded_ingestion):
    seeded_ingestion.run()
    files_before = seeded_ingestion.data_files()

    quiet = seeded_ingestion.run()

    assert quiet.total_rows == 0
    assert all(result.status == "unchanged" for result in quiet.tables)
    assert seeded_ingestion.data_files() == files_before
    assert len(seeded_ingestion.manifests()) == 2  # the quiet run still says what it did


def test_failed_run_does_not_advance_the_bookmark_and_the_rerun_loses_nothing(seeded_ingestion, monkeypatch):
    seeded_ingestion.run()
    bookmark_before = seeded_ingestion.bookmark_text()
    with connect(seeded_ingestion.owner) as conn:
        simulate(conn, seed=3, new_sales_orders=4, new_purchase_orders=2, payments_to_mark_paid=5)

    original = IngestionRun._ingest_table

    def fail_on_transaction(self, table, *args):
        if table.name == "transaction":
            raise OSError("disk full (injected)")
        return original(self, table, *args)

    monkeypatch.setattr(IngestionRun, "_ingest_table", fail_on_transaction)
    with pytest.raises(OSError, match="injected"):
        seeded_ingestion.run()
    assert seeded_ingestion.bookmark_text() == bookmark_before
    assert len(seeded_ingestion.manifests()) == 1  # the failed run committed nothing downstream can see

    monkeypatch.setattr(IngestionRun, "_ingest_table", original)
    seeded_ingestion.run()
    seeded_ingestion.assert_every_version_ingested_once()


def test_run_killed_between_manifest_and_bookmark_is_not_ingested_twice(seeded_ingestion, monkeypatch):
    seeded_ingestion.run()
    with connect(seeded_ingestion.owner) as conn:
        simulate(conn, seed=5, new_sales_orders=4, new_purchase_orders=2, payments_to_mark_paid=5)

    def killed(self, run_id):
        raise KeyboardInterrupt("killed after the manifest (injected)")

    with monkeypatch.context() as patch:
        patch.setattr(JobBookmark, "commit", killed)
        with pytest.raises(KeyboardInterrupt):
            seeded_ingestion.run()
    assert len(seeded_ingestion.manifests()) == 2  # its manifest is visible downstream

    rerun = seeded_ingestion.run()

    assert rerun.total_rows == 0
    seeded_ingestion.assert_every_version_ingested_once()


def test_pause_reads_from_the_bookmark_without_advancing_it(seeded_ingestion):
    seeded_ingestion.run()
    bookmark = seeded_ingestion.bookmark_text()
    with connect(seeded_ingestion.owner) as conn:
        simulate(conn, seed=9, new_sales_orders=2, new_purchase_orders=0, payments_to_mark_paid=0)

    first = seeded_ingestion.run("job-bookmark-pause")
    second = seeded_ingestion.run("job-bookmark-pause")

    assert seeded_ingestion.bookmark_text() == bookmark
    for paused in (first, second):  # both re-process the same increment, as Glue's pause does
        assert {r.table: r.rows for r in paused.tables}["sales_order"] == 2
        assert {r.table: r.rows for r in paused.tables}["address"] == 0


def test_disable_reads_everything_every_time_and_never_saves(seeded_ingestion):
    source_orders = len(seeded_ingestion.source_versions("sales_order"))
    first = seeded_ingestion.run("job-bookmark-disable")
    second = seeded_ingestion.run("job-bookmark-disable")

    assert seeded_ingestion.bookmark_text() is None
    for run in (first, second):
        assert {r.table: r.rows for r in run.tables}["sales_order"] == source_orders


def test_reset_makes_the_next_run_read_everything_again(seeded_ingestion):
    from totes.bookmarks import reset_bookmark

    seeded_ingestion.run()
    assert seeded_ingestion.run().total_rows == 0

    assert reset_bookmark(seeded_ingestion.zone, "totesys-ingest") is True
    again = seeded_ingestion.run()

    assert {r.table: r.rows for r in again.tables}["payment"] == len(seeded_ingestion.source_versions("payment"))
    assert all(r.window.is_full for r in again.tables)
