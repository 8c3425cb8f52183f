"""The load Glue script end to end: processed batches in a local zone, a real PostgreSQL warehouse."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from chispa import assert_df_equality

from totes.bookmarks import JobBookmark, reset_bookmark
from totes.iceberg import read_table
from totes.settings import LOAD_JOB_NAME
from totes.star import FACT_PAYMENT, STAR_TABLES, star_table
from totes.warehouse.batch import TableChanges, _changed_rows

from tests.warehouse.conftest import (
    FIRST,
    FIRST_DIMENSIONS,
    processed_catalog,
    LOCATIONS,
    OVERLAP,
    PAYMENT_1_PAID,
    PAYMENT_4,
    PAYMENTS_FIRST,
    PURCHASE_ORDERS_FIRST,
    SALES_ORDERS_FIRST,
    STAFF,
    UPDATE,
)


def _as_loaded(table_name: str, row: tuple) -> tuple:
    """A processed-zone row as the warehouse returns it: 'HH:mm:ss.SSS' text becomes a time."""
    table = star_table(table_name)
    return tuple(dt.time.fromisoformat(value) if column.pg_type == "time(3)" else value
                 for column, value in zip(table.columns, row))


def _without_record_ids(rows: list[tuple]) -> list[tuple]:
    return [row[1:] for row in rows]


def _counts(result) -> dict[str, tuple[int, int, int, int]]:
    """(staged, inserted, updated, unchanged) per table."""
    return {load.table: (load.staged, load.inserted, load.updated, load.unchanged) for load in result.tables}


def test_first_load_fills_every_table_with_exact_values_and_generated_record_ids(loading):
    loading.commit(FIRST)

    result = loading.run()

    assert result.batch_run_ids == [FIRST]
    for name, rows in FIRST_DIMENSIONS.items():
        assert loading.rows(name) == sorted(rows), name
    assert _without_record_ids(loading.rows("fact_sales_order")) == [
        _as_loaded("fact_sales_order", row) for row in SALES_ORDERS_FIRST]
    assert _without_record_ids(loading.rows("fact_purchase_order")) == [
        _as_loaded("fact_purchase_order", row) for row in PURCHASE_ORDERS_FIRST]
    payments = loading.rows("fact_payment")
    assert _without_record_ids(payments) == [_as_loaded("fact_payment", row) for row in PAYMENTS_FIRST]
    assert [row[0] for row in payments] == [1, 2, 3]  # the warehouse's serial, in version order
    assert loading.rows("dim_location")[1] == LOCATIONS[1]  # NULL address line and district stay NULL
    assert all(load.inserted == load.staged and load.updated == 0 for load in result.tables)


def test_every_processed_payment_version_arrives_unchanged(loading):
    loading.commit(FIRST, UPDATE)

    loading.run()

    snapshot_id = loading.library.manifests[UPDATE].tables[FACT_PAYMENT.name].details["snapshot_id"]
    processed_df = read_table(loading.spark, processed_catalog(loading.zone.uri).table(FACT_PAYMENT.name),
                              FACT_PAYMENT.spark_schema, snapshot_id)
    columns = FACT_PAYMENT.columns
    warehouse_rows = [tuple(_as_processed(value, column) for value, column in zip(row[1:], columns))
                      for row in loading.rows(FACT_PAYMENT.name)]
    warehouse_df = loading.spark.createDataFrame(warehouse_rows, FACT_PAYMENT.spark_schema)
    assert_df_equality(warehouse_df, processed_df, ignore_row_order=True, ignore_nullable=True)


def _as_processed(value, column):
    """A warehouse value as the processed zone holds it: a time(3) is 'HH:mm:ss.SSS' text there."""
    if column.pg_type == "time(3)":
        return value.strftime("%H:%M:%S.") + f"{value.microsecond // 1000:03d}"
    return value


def test_first_load_records_its_counts_in_a_manifest_and_advances_the_bookmark(loading):
    loading.commit(FIRST)

    result = loading.run()

    (manifest,) = loading.load_manifests()
    assert manifest.job_name == LOAD_JOB_NAME and manifest.run_id == result.run_id
    assert manifest.inputs == [FIRST]
    assert list(manifest.tables) == [table.name for table in STAR_TABLES]
    payment = manifest.tables["fact_payment"]
    assert payment.rows == 3
    counts = ("status", "staged", "inserted", "updated", "unchanged", "total")
    assert {key: payment.details[key] for key in counts} == {
        "status": "written", "staged": 3, "inserted": 3, "updated": 0, "unchanged": 0, "total": 3}
    state = json.loads(loading.bookmark_text())["JobBookmark"]["transform_manifests"]
    assert state["last_transform_run_id"] == FIRST
    assert state["snapshots"] == {name: output.details["snapshot_id"]
                                  for name, output in loading.library.manifests[FIRST].tables.items()}


def test_only_snapshots_of_committed_transform_runs_are_loaded(loading):
    loading.commit(FIRST)  # the tables hold the commits of OVERLAP, UPDATE and BAD_FK too, no manifest names them

    loading.run()

    assert [row[1] for row in loading.rows("fact_sales_order")] == [1, 2]
    assert len(loading.rows("fact_payment")) == 3


def test_reloading_the_same_batch_changes_nothing(loaded_once):
    before = loaded_once.dump()
    reset_bookmark(loaded_once.zone, LOAD_JOB_NAME)  # the next run loads FIRST again

    again = loaded_once.run()

    assert again.batch_run_ids == [FIRST]
    assert loaded_once.dump() == before  # same rows, same record ids
    assert all(load.inserted == load.updated == 0 and load.unchanged == load.staged for load in again.tables)
    assert all(load.status == "unchanged" for load in again.tables)


def test_with_bookmarks_disabled_every_run_reloads_everything_harmlessly(loaded_once):
    before = loaded_once.dump()

    for _ in range(2):
        result = loaded_once.run("job-bookmark-disable")
        assert result.batch_run_ids == [FIRST]
        assert sum(load.inserted + load.updated for load in result.tables) == 0
    assert loaded_once.dump() == before


def test_an_overlapping_batch_inserts_only_the_new_fact_versions(loaded_once):
    before = loaded_once.dump()
    loaded_once.commit(OVERLAP)  # repeats sales order 2 and purchase order 1, adds sales order 4

    result = loaded_once.run()

    counts = _counts(result)
    assert counts["fact_sales_order"] == (1, 1, 0, 0)  # the table's change since FIRST: sales order 4
    assert counts.get("fact_purchase_order", (0, 0, 0, 0)) == (0, 0, 0, 0)
    assert "fact_payment" not in counts
    sales = loaded_once.rows("fact_sales_order")
    assert sales[:2] == before["fact_sales_order"]
    assert [row[1] for row in sales] == [1, 2, 4]
    assert loaded_once.rows("fact_purchase_order") == before["fact_purchase_order"]


def test_overlapping_transform_runs_in_one_batch_load_each_version_once(loading):
    loading.commit(FIRST, OVERLAP)

    result = loading.run()

    assert result.batch_run_ids == [FIRST, OVERLAP]
    assert _counts(result)["fact_sales_order"] == (3, 3, 0, 0)
    assert _counts(result)["fact_purchase_order"] == (1, 1, 0, 0)
    assert [row[1] for row in loading.rows("fact_sales_order")] == [1, 2, 4]


def test_a_payment_update_becomes_a_second_fact_row_while_dimensions_update_in_place(loaded_once):
    before = loaded_once.dump()
    (untouched_staff_version,) = loaded_once.sql("SELECT xmin::text FROM dim_staff WHERE staff_id = 2")[0]
    loaded_once.commit(UPDATE)

    result = loaded_once.run()

    payments = loaded_once.rows("fact_payment")
    assert payments[:3] == before["fact_payment"]  # history is kept, record ids unchanged
    new_rows = payments[3:]
    assert _without_record_ids(new_rows) == [_as_loaded("fact_payment", PAYMENT_4),
                                            _as_loaded("fact_payment", PAYMENT_1_PAID)]
    assert all(record_id > 3 for record_id, *_ in new_rows)
    versions_of_payment_1 = [(row[4], row[5], row[11]) for row in payments if row[1] == 1]
    assert versions_of_payment_1 == [(dt.date(2024, 7, 1), dt.time(9, 15, 20, 123000), False),
                                     (dt.date(2024, 7, 2), dt.time(14, 0), True)]

    assert loaded_once.rows("dim_staff") == [
        (1, "Jeremie", "Franey", "Production", "Leeds", "jeremie.franey@terrifictotes.com"), STAFF[1]]
    untouched = loaded_once.sql("SELECT xmin::text FROM dim_staff WHERE staff_id = 2")[0]
    assert untouched == (untouched_staff_version,)  # an equal row is not rewritten
    counts = _counts(result)
    # Only the changed rows travel: the table's changelog since the loaded snapshot.
    assert counts["dim_staff"] == (1, 0, 1, 0)
    assert counts["dim_transaction"] == (1, 1, 0, 0)
    assert "dim_location" not in counts  # its snapshot (FIRST's) is in the warehouse already: not even read
    assert counts["fact_payment"] == (2, 2, 0, 0)
    # Sales order 3, and sales order 4 of OVERLAP's commit, which lies between FIRST's snapshot and UPDATE's: a
    # commit without a manifest (a killed run's) reaches the warehouse with the next committed run's changes.
    assert counts["fact_sales_order"] == (2, 2, 0, 0)
    assert sorted(row[1] for row in loaded_once.rows("fact_sales_order")) == [1, 2, 3, 4]
    assert loaded_once.counts()["dim_staff"] == 2
    skipped = loaded_once.load_manifests()[-1].tables["dim_location"]
    assert (skipped.rows, skipped.details["status"]) == (0, "unchanged")
    assert skipped.details["snapshot_id"] == loaded_once.library.manifests[FIRST].tables["dim_location"].details[
        "snapshot_id"]


def test_a_run_with_no_new_transform_run_loads_nothing_and_says_so(loaded_once, capfd):
    before = loaded_once.dump()
    capfd.readouterr()

    result = loaded_once.run()

    assert result.batch_run_ids == [] and result.tables == []
    assert loaded_once.dump() == before
    assert "nothing to load" in capfd.readouterr().err
    latest = loaded_once.load_manifests()[-1]
    assert latest.inputs == [] and latest.tables == {}
    assert json.loads(loaded_once.bookmark_text())["JobBookmark"]["transform_manifests"][
        "last_transform_run_id"] == FIRST


def test_a_run_killed_after_the_warehouse_commit_is_reloaded_harmlessly(loaded_once, monkeypatch):
    bookmark_before = loaded_once.bookmark_text()
    loaded_once.commit(UPDATE)

    def killed(self, run_id):
        raise KeyboardInterrupt("killed after the warehouse commit (injected)")

    with monkeypatch.context() as patch:
        patch.setattr(JobBookmark, "commit", killed)
        with pytest.raises(KeyboardInterrupt):
            loaded_once.run()
    assert loaded_once.bookmark_text() == bookmark_before
    after_kill = loaded_once.dump()
    assert len(after_kill["fact_payment"]) == 5  # the batch is in the warehouse

    rerun = loaded_once.run()

    assert rerun.batch_run_ids == [UPDATE]
    assert sum(load.inserted + load.updated for load in rerun.tables) == 0
    assert loaded_once.dump() == after_kill
    assert json.loads(loaded_once.bookmark_text())["JobBookmark"]["transform_manifests"][
        "last_transform_run_id"] == UPDATE


def test_pause_loads_from_the_bookmark_without_moving_it(loaded_once):
    bookmark_before = loaded_once.bookmark_text()
    loaded_once.commit(UPDATE)

    first = loaded_once.run("job-bookmark-pause")
    second = loaded_once.run("job-bookmark-pause")

    assert first.batch_run_ids == second.batch_run_ids == [UPDATE]
    assert _counts(second)["fact_payment"] == (2, 0, 0, 2)
    assert loaded_once.bookmark_text() == bookmark_before



def _snapshot(library, run_id: str, table_name: str) -> int:
    return library.manifests[run_id].tables[table_name].details["snapshot_id"]


def test_commits_that_only_appended_are_read_from_the_files_they_added_and_rewrites_from_the_changelog(
        loaded_once):
    spark, library = loaded_once.spark, loaded_once.library
    catalog = processed_catalog(loaded_once.zone.uri)
    sales_orders = star_table("fact_sales_order")
    appended = TableChanges(sales_orders, _snapshot(library, FIRST, sales_orders.name),
                            _snapshot(library, OVERLAP, sales_orders.name))

    appended_df = _changed_rows(spark, catalog, appended)

    assert "_change_type" not in appended_df.columns  # no changelog planned
    assert [row.sales_order_id for row in appended_df.collect()] == [4]  # OVERLAP's new version only
    staff = star_table("dim_staff")
    rewritten = TableChanges(staff, _snapshot(library, FIRST, staff.name), _snapshot(library, UPDATE, staff.name))
    rewritten_df = _changed_rows(spark, catalog, rewritten)
    assert "_change_type" in rewritten_df.columns
    assert [row.staff_id for row in rewritten_df.collect()] == [1]  # the moved staff member, not its file's rows
