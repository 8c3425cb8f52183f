"""The transformation Glue script end to end over a hand-written ingestion zone."""

from __future__ import annotations

import re

import datetime as dt
from decimal import Decimal

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from tests.transform.conftest import base_rows, ts
from totes.bookmarks import JobBookmark
from totes.iceberg import current_snapshot
from totes.star import DIMENSIONS, FACTS, STAR_TABLES, WAREHOUSE_TABLES
from totes.transform import fact_writer
from totes.transform.contracts import (BlankDimensionValueError, InputReadError, InputSchemaError,
                                       MandatoryDimensionEmptyError, TableCommitError)
from totes.transform.dimension_writer import DimensionWriter


def _types(df):
    return [(field.name, field.dataType) for field in df.schema.fields]


def _keys(df, columns):
    return sorted(tuple(row) for row in df.select(*columns).collect())


def test_first_run_builds_all_eleven_tables_with_declared_columns_and_grain(transform):
    transform.ingest(base_rows())
    result = transform.run()

    assert set(result.tables) == {table.name for table in WAREHOUSE_TABLES}
    for table in STAR_TABLES:
        df = transform.table(table.name)
        assert _types(df) == _types(transform.spark.createDataFrame([], table.spark_schema)), table.name
        keys = df.select(*table.natural_key)
        assert keys.count() == keys.distinct().count(), f"{table.name}: duplicate natural key"
    assert transform.table("fact_sales_order").count() == 2
    assert transform.table("fact_purchase_order").count() == 1
    assert transform.table("fact_payment").count() == 3
    assert transform.table("dim_transaction").count() == 3


def test_facts_carry_exact_decimals_split_times_and_renamed_staff(transform):
    transform.ingest(base_rows())
    transform.run()

    row = transform.table("fact_sales_order").where("sales_order_id = 1").collect()[0]
    assert row.unit_price == Decimal("2.43")
    assert (row.created_date, row.created_time) == (dt.date(2024, 11, 4), "09:30:00.125")
    assert row.sales_staff_id == 1
    assert row.agreed_delivery_date == dt.date(2024, 11, 7)
    payment = transform.table("fact_payment").where("payment_id = 3").collect()[0]
    assert payment.payment_amount == Decimal("719137.76")


def test_facts_are_partitioned_by_created_month_never_by_run(transform):
    rows = base_rows()
    rows["sales_order"].append((3, ts(-60 * 24 * 40), ts(), 1, 1, 1, 10, Decimal("1.00"), 1, "2024-11-07",
                                "2024-11-08", 1))  # created in September
    transform.ingest(rows)
    transform.run()
    transform.ingest({"sales_order": [(4, ts(5), ts(5), 1, 1, 1, 10, Decimal("1.00"), 1, "2024-11-07",
                                       "2024-11-08", 1)]})
    transform.run()

    partitions = transform.spark.sql(f"SELECT partition.created_date_month AS month, record_count "
                                     f"FROM {transform.catalog.table('fact_sales_order')}.partitions").collect()
    months_since_1970 = {(2024 - 1970) * 12 + 8: "2024-09", (2024 - 1970) * 12 + 10: "2024-11"}
    assert {months_since_1970[row.month]: row.record_count for row in partitions} == {"2024-09": 1, "2024-11": 3}


def test_dimensions_take_attributes_from_their_parents(transform):
    transform.ingest(base_rows())
    transform.run()

    staff = {row.staff_id: row for row in transform.table("dim_staff").collect()}
    assert (staff[2].department_name, staff[2].location) == ("Purchasing", "Leds")
    counterparty = {row.counterparty_id: row for row in transform.table("dim_counterparty").collect()}
    assert counterparty[1].counterparty_legal_city == "Aliso Viejo"
    assert counterparty[1].counterparty_legal_address_line_2 is None  # blank in the source means no value
    assert counterparty[2].counterparty_legal_address_line_2 is None
    currency = {row.currency_code: row.currency_name for row in transform.table("dim_currency").collect()}
    assert currency == {"GBP": "Pound Sterling", "USD": "US Dollar", "EUR": "Euro"}


def test_dim_date_covers_every_date_any_fact_refers_to(transform):
    transform.ingest(base_rows())
    transform.run()

    dates = {row.date_id for row in transform.table("dim_date").collect()}
    referenced = set()
    for fact in FACTS:
        date_columns = [c.name for c in fact.columns if c.references == "dim_date"]
        for row in transform.table(fact.name).select(*date_columns).collect():
            referenced.update(value for value in row if value is not None)
    assert referenced <= dates
    assert len(dates) == (max(dates) - min(dates)).days + 1  # gapless
    assert (min(dates), max(dates)) == (dt.date(2024, 1, 1), dt.date(2024, 12, 31))  # whole years
    monday = transform.table("dim_date").where(F.col("date_id") == dt.date(2024, 11, 4)).collect()[0]
    assert (monday.day_of_week, monday.day_name, monday.quarter) == (1, "Monday", 4)


def test_an_updated_payment_becomes_a_second_fact_row(transform):
    transform.ingest(base_rows())
    transform.run()
    transform.ingest({"payment": [(1, ts(), ts(60), 1, 1, Decimal("205952.22"), 1, 1, True, "2024-11-08",
                                   67305075, 31622269)]})
    result = transform.run()

    versions = transform.table("fact_payment").where("payment_id = 1").orderBy("last_updated_time").collect()
    assert [(v.paid, v.last_updated_time) for v in versions] == [(False, "09:30:00.125"), (True, "10:30:00.125")]
    assert result.tables["fact_payment"].rows == 1


def test_a_batch_of_payment_updates_only_leaves_dimensions_and_other_facts_unchanged(transform):
    transform.ingest(base_rows())
    first = transform.run()
    transform.ingest({"payment": [(2, ts(), ts(90), 2, 2, Decimal("169309.68"), 2, 1, True, "2024-11-07",
                                   81718079, 47839086)]})
    second = transform.run()

    for dim in DIMENSIONS:
        assert second.tables[dim.name].details["status"] == "unchanged", dim.name
        assert second.tables[dim.name].details["snapshot_id"] == first.tables[dim.name].details["snapshot_id"]
    assert second.tables["fact_sales_order"].rows == 0
    assert second.tables["fact_payment"].rows == 1


def test_dim_date_is_rewritten_only_when_a_date_falls_outside_the_years_it_covers(transform):
    transform.ingest(base_rows())
    transform.run()
    later_in_the_year = (3, ts(60), ts(60), 1, 1, 1, 100, Decimal("2.50"), 1, "2024-12-30", "2024-12-31", 1)
    transform.ingest({"sales_order": [later_in_the_year]})
    same_years = transform.run()
    next_year = (4, ts(90), ts(90), 1, 1, 1, 100, Decimal("2.50"), 1, "2025-01-02", "2025-01-03", 1)
    transform.ingest({"sales_order": [next_year]})
    new_year = transform.run()

    assert same_years.tables["fact_sales_order"].rows == 1
    assert same_years.tables["dim_date"].details["status"] == "unchanged"
    assert new_year.tables["dim_date"].details["status"] == "written"
    dates = [row.date_id for row in transform.table("dim_date", transform.manifests()[-1]).collect()]
    assert (min(dates), max(dates), len(dates)) == (dt.date(2024, 1, 1), dt.date(2025, 12, 31), 366 + 365)


def test_a_changed_parent_updates_the_dimension_of_unchanged_children(transform):
    transform.ingest(base_rows())
    transform.run()
    transform.ingest({"department": [(2, "Procurement", "Leeds", None, ts(), ts(120))]})
    result = transform.run()

    assert result.tables["dim_staff"].details["status"] == "written"
    staff = {row.staff_id: row for row in transform.table("dim_staff").collect()}
    assert (staff[2].department_name, staff[2].location) == ("Procurement", "Leeds")
    assert staff[1].department_name == "Sales"
    assert transform.table("dim_staff").count() == 2


def test_the_current_state_keeps_the_latest_version_and_a_late_older_copy_never_wins(transform):
    def dim_transaction():
        return {(row.transaction_id, row.purchase_order_id) for row in transform.table("dim_transaction").collect()}

    transform.ingest(base_rows())
    transform.run()
    # A newer version of transaction 3 and a new transaction 4.
    transform.ingest({"transaction": [(3, "PURCHASE", None, 10, ts(), ts(10)), (4, "PURCHASE", None, 1, ts(), ts(10))]})
    transform.run()
    assert dim_transaction() == {(1, None), (2, None), (3, 10), (4, 1)}
    # A late copy of an older version of transaction 3 (ingested after the newer one) must not win; a payment of
    # the new transaction 4 finds its parent.
    transform.ingest({"transaction": [(3, "PURCHASE", None, 5, ts(), ts(5))],
                      "payment": [(4, ts(), ts(30), 4, 2, Decimal("10.00"), 3, 3, False, "2024-11-09", 1, 2)]})
    result = transform.run()
    assert dim_transaction() == {(1, None), (2, None), (3, 10), (4, 1)}
    assert result.tables["fact_payment"].rows == 1 and result.quarantined == 0
    current = transform.spark.table(transform.catalog.table("current_transaction"))
    assert current.count() == 4


def test_a_corrected_copy_of_the_same_version_wins_in_the_current_state(transform):
    # A reconciliation re-ingests a row edited without a new last_updated: same version, other content.
    transform.ingest(base_rows())
    transform.run()

    transform.ingest({"transaction": [(3, "PURCHASE", None, 99, ts(), ts())]})
    transform.run()

    dim = {(row.transaction_id, row.purchase_order_id) for row in transform.table("dim_transaction").collect()}
    assert dim == {(1, None), (2, None), (3, 99)}


def test_a_small_batch_checks_big_parents_only_where_it_refers_to_them(transform, monkeypatch):
    monkeypatch.setattr(fact_writer, "BIG_PARENT_ROWS", 3)  # "big": the 3 transactions, 4 payment types
    narrowed = {}
    verdicts = fact_writer.with_quality_verdicts

    def recording_verdicts(table, parents, currencies, narrowed_parents):
        narrowed[table] = narrowed_parents
        return verdicts(table, parents, currencies, narrowed_parents)

    monkeypatch.setattr(fact_writer, "with_quality_verdicts", recording_verdicts)
    transform.ingest(base_rows())
    transform.run()
    new_payments = {"payment": [(4, ts(), ts(30), 3, 2, Decimal("10.00"), 3, 3, False, "2024-11-09", 1, 2),
                                (5, ts(), ts(30), 99, 2, Decimal("10.00"), 3, 3, False, "2024-11-09", 1, 2)]}
    transform.ingest(new_payments)

    result = transform.run()

    assert narrowed["payment"] == frozenset({"transaction", "payment_type"})
    assert result.tables["fact_payment"].rows == 1
    assert [(row.payment_id, row.quarantine_reason) for row in transform.quarantine("payment")] == [
        (5, "transaction_id 99 has no transaction row")]
    monkeypatch.setattr(fact_writer, "SMALL_BATCH_ROWS", 1)  # a batch bigger than this narrows nothing
    transform.ingest({"payment": [(6, ts(), ts(40), 1, 2, Decimal("1.00"), 1, 1, False, "2024-11-09", 1, 2),
                                  (7, ts(), ts(40), 2, 2, Decimal("1.00"), 1, 1, False, "2024-11-09", 1, 2)]})
    transform.run()
    assert narrowed["payment"] == frozenset()


def test_a_batch_whose_rows_all_pass_commits_no_quarantine(transform):
    transform.ingest(base_rows())

    result = transform.run()

    assert result.quarantined == 0
    for source in ("sales_order", "purchase_order", "payment"):
        snapshots = transform.spark.sql(f"SELECT * FROM {transform.catalog.table('quarantine_' + source)}.snapshots")
        assert snapshots.count() == 0, source
    assert {name: result.tables[name].rows for name in ("fact_sales_order", "fact_purchase_order", "fact_payment")} \
        == {"fact_sales_order": 2, "fact_purchase_order": 1, "fact_payment": 3}


def test_a_row_with_a_missing_parent_is_quarantined_then_released_when_the_parent_arrives(transform):
    transform.ingest(base_rows())
    transform.run()
    transform.ingest({"sales_order": [(3, ts(5), ts(5), 99, 1, 1, 1000, Decimal("3.00"), 1, "2024-11-10",
                                       "2024-11-11", 1)]})
    held = transform.run()

    assert held.tables["fact_sales_order"].rows == 0
    assert held.tables["fact_sales_order"].details["quarantined"] == 1
    quarantined, = transform.quarantine("sales_order")
    assert (quarantined.quarantine_rule, quarantined.quarantine_reason) == ("missing_parent",
                                                                           "design_id 99 has no design row")
    held_report = held.tables["fact_sales_order"].details["quality"]
    assert (held_report["checked"], held_report["quarantined"], held_report["new_quarantined"]) == (1, 1, 1)
    assert held_report["rules"]["missing_parent"] == {
        "checked": 1, "passed": 0, "quarantined": 1, "released": 0,
        "examples": ["sales_order_id 3: design_id 99 has no design row"]}
    transform.ingest({"design": [(99, ts(6), "Granite", "/opt", "granite-20241104-abcd.json", ts(6))]})
    released = transform.run()

    assert released.tables["fact_sales_order"].rows == 1
    assert released.tables["fact_sales_order"].details["released"] == 1
    released_report = released.tables["fact_sales_order"].details["quality"]
    assert (released_report["checked"], released_report["passed"], released_report["released"],
            released_report["new_checked"]) == (1, 1, 1, 0)
    assert released_report["rules"]["missing_parent"]["released"] == 1
    assert transform.quarantine("sales_order") == []
    assert _keys(transform.table("fact_sales_order"), ["sales_order_id"]) == [(1,), (2,), (3,)]


def test_rows_breaking_rules_are_quarantined_with_rule_and_reason_and_the_rest_pass(transform):
    rows = base_rows()
    rows["sales_order"].append((3, ts(), ts(), 1, 1, 1, -5, Decimal("2.00"), 1, "2024-11-07", "2024-11-08", 1))
    rows["purchase_order"].append((2, ts(), ts(), 2, 1, "QWERTY1", 10, Decimal("1.00"), 3, "next week",
                                   "2024-11-09", 1))
    transform.ingest(rows)
    result = transform.run()

    assert result.tables["fact_sales_order"].rows == 2
    assert result.tables["fact_sales_order"].details["quarantine_rules"] == {"negative_quantity": 1}
    assert transform.quarantine("purchase_order")[0].quarantine_reason == \
        "agreed_delivery_date 'next week' is not a YYYY-MM-DD date"
    assert result.quarantined == 2


def test_an_unknown_currency_code_is_reported_and_its_facts_quarantined(transform):
    rows = base_rows()
    rows["currency"].append((4, "XTT", ts(), ts()))
    rows["sales_order"].append((3, ts(), ts(), 1, 1, 1, 5, Decimal("2.00"), 4, "2024-11-07", "2024-11-08", 1))
    transform.ingest(rows)
    result = transform.run()

    assert result.tables["dim_currency"].details["unknown_currency_codes"] == ["XTT"]
    names = {row.currency_code: row.currency_name for row in transform.table("dim_currency").collect()}
    assert names["XTT"] is None
    assert transform.quarantine("sales_order")[0].quarantine_rule == "unknown_currency"


def test_rerunning_on_the_same_input_gives_identical_output(transform):
    transform.ingest(base_rows())
    first = transform.run("job-bookmark-disable")
    second = transform.run("job-bookmark-disable")

    for table in STAR_TABLES:
        order = list(table.natural_key)
        assert_df_equality(transform.table(table.name, first).orderBy(*order),
                           transform.table(table.name, second).orderBy(*order))


def test_a_run_with_no_new_input_writes_no_data(transform):
    transform.ingest(base_rows())
    transform.run()
    quiet = transform.run()

    assert quiet.inputs == []
    assert all(output.rows == 0 for name, output in quiet.tables.items() if name.startswith("fact_"))
    assert all(output.details["status"] == "unchanged" for output in quiet.tables.values())


def test_a_failed_run_keeps_the_bookmark_and_the_rerun_processes_the_same_input(transform, monkeypatch):
    transform.ingest(base_rows())
    transform.run()
    bookmark = transform.bookmark_text()
    new_input = transform.ingest({"sales_order": [(3, ts(5), ts(5), 1, 1, 1, 10, Decimal("2.50"), 1,
                                                   "2024-11-10", "2024-11-11", 1)]})
    original = DimensionWriter.write_changed

    def fail(self, *args):
        raise OSError("disk full (injected)")

    monkeypatch.setattr(DimensionWriter, "write_changed", fail)
    with pytest.raises(OSError, match="injected"):
        transform.run()
    assert transform.bookmark_text() == bookmark
    assert len(transform.manifests()) == 1

    monkeypatch.setattr(DimensionWriter, "write_changed", original)
    rerun = transform.run()
    assert rerun.inputs == [new_input]
    assert _keys(transform.table("fact_sales_order"), ["sales_order_id"]) == [(1,), (2,), (3,)]


def test_a_run_killed_between_manifest_and_bookmark_is_not_processed_twice(transform, monkeypatch):
    transform.ingest(base_rows())
    transform.run()
    transform.ingest({"sales_order": [(3, ts(5), ts(5), 1, 1, 1, 10, Decimal("2.50"), 1, "2024-11-10",
                                       "2024-11-11", 1)]})
    with monkeypatch.context() as patch:
        patch.setattr(JobBookmark, "commit", lambda self, run_id: (_ for _ in ()).throw(KeyboardInterrupt()))
        with pytest.raises(KeyboardInterrupt):
            transform.run()

    rerun = transform.run()

    assert rerun.inputs == []
    sales = transform.table("fact_sales_order")
    assert sales.count() == sales.select("sales_order_id", "last_updated_date", "last_updated_time").distinct().count()
    assert sales.count() == 3


def test_a_missing_mandatory_table_fails_the_run_naming_it(transform):
    rows = base_rows()
    del rows["currency"]
    transform.ingest(rows)

    with pytest.raises(MandatoryDimensionEmptyError, match="currency"):
        transform.run()
    assert transform.bookmark_text() is None


def test_an_input_file_with_a_missing_column_fails_the_run_naming_it(transform):
    run_id = transform.ingest(base_rows())
    manifest_key = f"_manifests/totesys-ingest/{run_id}.json"
    import json

    manifest = json.loads(transform.ingestion.read_text(manifest_key))
    prefix = "staff/ingest_date=2024-11-04/run_id=drifted"
    transform.spark.createDataFrame([(3, "Ann", "Lee", 1)], "staff_id int, first_name string, last_name string, "
                                    "department_id int").write.parquet(transform.ingestion.uri_of(prefix))
    manifest["tables"]["staff"]["files"] = [k for k in transform.ingestion.list_keys(prefix) if k.endswith(".parquet")]
    transform.ingestion.write_text(manifest_key, json.dumps(manifest))

    with pytest.raises(InputSchemaError, match="email_address is missing"):
        transform.run()


def _damaged_input(transform, table: str, damage) -> str:
    run_id = transform.ingest(base_rows())
    manifest = transform.ingestion.read_text(f"_manifests/totesys-ingest/{run_id}.json")
    import json

    (key,) = json.loads(manifest)["tables"][table]["files"]
    path = transform.ingestion.root / key
    for checksum in path.parent.glob(f".{path.name}.crc"):
        checksum.unlink()  # as on S3: no local checksum to give the damage away first
    data = path.read_bytes()
    path.write_bytes(damage(data))
    return key


def test_a_truncated_input_file_fails_the_run_naming_the_table_and_the_file(transform):
    key = _damaged_input(transform, "payment", lambda data: data[: len(data) // 2])

    with pytest.raises(InputSchemaError, match=rf"ingested payment file {re.escape(key)} cannot be read as parquet"):
        transform.run()
    assert transform.bookmark_text() is None


def test_an_input_file_with_corrupt_pages_fails_the_run_naming_the_file(transform):
    def scramble_pages(data: bytes) -> bytes:
        footer = int.from_bytes(data[-8:-4], "little") + 8
        return data[:4] + bytes((i * 37 + 11) % 251 for i in range(len(data) - 4 - footer)) + data[-footer:]

    key = _damaged_input(transform, "payment", scramble_pages)

    with pytest.raises(InputReadError, match=rf"cannot be read: .*{re.escape(key.rsplit('/', 1)[-1])}"):
        transform.run()
    assert transform.bookmark_text() is None


def test_a_refused_commit_names_the_table_leaves_it_at_its_snapshot_and_the_rerun_completes(transform):
    from totes.secrets import LocalSecretProvider
    from totes.settings import LOCAL_SECRETS_DIR, PROCESSED_CATALOG_SECRET_ID
    from totes.warehouse.database import connect

    transform.ingest(base_rows())
    first = transform.run()
    transform.ingest({"payment": [(4, ts(), ts(30), 3, 2, Decimal("10.00"), 3, 3, False, "2024-11-09", 1, 2)],
                      "sales_order": [(3, ts(5), ts(5), 1, 1, 1, 10, Decimal("2.50"), 1, "2024-11-10",
                                       "2024-11-11", 1)]})
    catalog = LocalSecretProvider(LOCAL_SECRETS_DIR).get_database_credentials(PROCESSED_CATALOG_SECRET_ID)
    trigger = f"refuse_{transform.catalog.spark_name}"
    # The catalog itself refuses the commit of fact_payment, as a conflicting writer's would be refused.
    with connect(catalog) as conn:
        conn.execute(f"""CREATE FUNCTION {trigger}() RETURNS trigger AS $$ BEGIN
            IF NEW.catalog_name = '{transform.catalog.spark_name}' AND NEW.table_name = 'fact_payment' THEN
                RAISE EXCEPTION 'commit refused (injected)'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql""")
        conn.execute(f"CREATE TRIGGER {trigger} BEFORE UPDATE ON iceberg_tables FOR EACH ROW "
                     f"EXECUTE FUNCTION {trigger}()")
        conn.commit()
    try:
        with pytest.raises(TableCommitError, match="the commit to fact_payment failed") as raised:
            transform.run()
        assert "commit refused (injected)" in str(raised.value) or "fact_payment" in str(raised.value)
        assert transform.table("fact_payment", first).count() == 3
        snapshot = current_snapshot(transform.spark, transform.catalog.table("fact_payment"))
        assert snapshot.snapshot_id == first.tables["fact_payment"].details["snapshot_id"]
        assert len(transform.manifests()) == 1
    finally:
        with connect(catalog) as conn:
            conn.execute(f"DROP TRIGGER {trigger} ON iceberg_tables")
            conn.execute(f"DROP FUNCTION {trigger}()")
            conn.commit()

    rerun = transform.run()

    assert _keys(transform.table("fact_payment"), ["payment_id", "last_updated_time"]) == [
        (1, "09:30:00.125"), (2, "09:30:00.125"), (3, "09:30:00.125"), (4, "10:00:00.125")]
    assert _keys(transform.table("fact_sales_order"), ["sales_order_id"]) == [(1,), (2,), (3,)]
    assert rerun.tables["fact_sales_order"].details["status"] == "unchanged"  # committed by the failed run


def test_a_blank_in_a_dimensions_required_text_fails_the_run_naming_the_key_and_column(transform):
    rows = base_rows()
    rows["staff"][1] = (2, "Deron", "   ", 2, "deron.beier@terrifictotes.com", ts(), ts())  # last_name blank
    transform.ingest(rows)

    with pytest.raises(BlankDimensionValueError, match=r"dim_staff: blank values in required columns "
                                                       r"\(staff_id 2: last_name\)"):
        transform.run()
    assert transform.bookmark_text() is None
