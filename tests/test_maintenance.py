"""Table maintenance (totes/maintenance.py) on a real Iceberg table of the local JDBC catalog: compaction, snapshot
expiry and orphan files, with the rows and the load's changelog reads intact; and the definition it reads."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from totes.iceberg import catalog_from_args, commits_tagged, create_table, current_snapshot, merge_into, use_catalog
from totes.maintenance import Maintenance, MaintenancePolicy, load_maintenance, maintain
from totes.settings import PROCESSED_CATALOG_SECRET_ID, PROCESSED_DATABASE, REPO_DIR
from totes.star import DIM_CURRENCY, WAREHOUSE_TABLES
from totes.warehouse.batch import TableChanges, read_changes

INPUT_THROUGH = "totes.input-through"  # the transformation's summary key of the inputs a commit covers


def _catalog(tmp_path):
    return catalog_from_args({"processed_catalog": f"jdbc:{PROCESSED_CATALOG_SECRET_ID}",
                              "catalog_database": PROCESSED_DATABASE, "processed_zone": str(tmp_path / "processed")})


def _snapshot_ids(spark, table) -> set[int]:
    return {row["snapshot_id"] for row in spark.sql(f"SELECT snapshot_id FROM {table}.snapshots").collect()}


@dataclass
class Maintained:
    catalog: object
    table: str
    snapshots: list  # after each of the six commits
    rows_before: list
    orphan: Path
    outcomes: list


def _six_commits_then_maintenance(spark, tmp_path) -> Maintained:
    """Six small commits to dim_currency (one data file each), an orphan file, then maintenance with a
    retention that the first three commits are older than."""
    catalog = _catalog(tmp_path)
    use_catalog(spark, catalog)
    create_table(spark, catalog, DIM_CURRENCY.name, DIM_CURRENCY.spark_schema)
    table = catalog.table(DIM_CURRENCY.name)
    rows = [(1, "GBP", "Pound Sterling"), (2, "USD", "US Dollar"), (3, "EUR", "Euro"),
            (4, "XXX", None), (5, "JPY", "Yen"), (6, "CHF", "Swiss Franc")]  # XXX: a code ISO 4217 leaves unnamed
    snapshots = []
    for number, row in enumerate(rows):
        with commits_tagged(spark, f"run-{number}", {INPUT_THROUGH: f"ingest-{number}"}):
            snapshots.append(merge_into(spark, table, spark.createDataFrame([row], DIM_CURRENCY.spark_schema),
                                        DIM_CURRENCY.natural_key))
        if number == 2:
            time.sleep(1.1)
            retention_boundary = dt.datetime.now(dt.timezone.utc)
            time.sleep(1.1)
    rows_before = sorted(spark.table(table).collect(), key=lambda r: r["currency_id"])
    # An orphan: a data file no snapshot references, written three days ago (a killed writer's leftover).
    orphan = Path(tmp_path / "processed" / DIM_CURRENCY.name / "data" / "00000-orphan.parquet")
    orphan.write_bytes(b"PAR1 left behind")
    os.utime(orphan, (time.time() - 3 * 86400,) * 2)

    policy = MaintenancePolicy(every_hours=0.1, snapshot_retention_days=0.01, snapshots_to_retain=1,
                               orphan_file_retention_days=1.1)  # a day before the real clock, too
    now = retention_boundary + dt.timedelta(days=policy.snapshot_retention_days)
    outcomes = maintain(spark, catalog, [DIM_CURRENCY.name, "fact_payment"], policy, now=now)
    return Maintained(catalog, table, snapshots, rows_before, orphan, outcomes)


def test_maintenance_compacts_expires_old_snapshots_removes_orphans_and_keeps_rows_and_changelog(spark, tmp_path):
    done = _six_commits_then_maintenance(spark, tmp_path)
    maintained, missing = done.outcomes
    assert (missing.table, missing.exists) == ("fact_payment", False)
    assert (maintained.data_files_before, maintained.rewritten_data_files, maintained.data_files_after) == (6, 6, 1)
    assert (maintained.snapshots_before, maintained.snapshots_after) == (6, 4)
    assert maintained.orphan_files_removed == 1 and not done.orphan.exists()
    kept = _snapshot_ids(spark, done.table)
    assert {s.snapshot_id for s in done.snapshots[:3]}.isdisjoint(kept)
    assert {s.snapshot_id for s in done.snapshots[3:]} <= kept
    assert sorted(spark.table(done.table).collect(), key=lambda r: r["currency_id"]) == done.rows_before
    compacted = current_snapshot(spark, done.table)
    assert compacted.operation == "replace"
    # The rows are the same ones: what the last commit said about its inputs stays true of the compacted table.
    assert compacted.summary[INPUT_THROUGH] == "ingest-5"
    assert compacted.run_id.startswith("maintenance-")

    # The load's read from a snapshot still in the retention: exactly the two rows committed after it (the
    # compaction's replace snapshot adds nothing).
    changes = read_changes(spark, done.catalog, TableChanges(DIM_CURRENCY, done.snapshots[3].snapshot_id,
                                                             compacted.snapshot_id))
    assert sorted(changes.to_pylist(), key=lambda r: r["currency_id"]) == [
        {"currency_id": 5, "currency_code": "JPY", "currency_name": "Yen"},
        {"currency_id": 6, "currency_code": "CHF", "currency_name": "Swiss Franc"}]


def test_the_load_reads_a_table_whole_when_its_loaded_snapshot_has_expired(spark, tmp_path):
    done = _six_commits_then_maintenance(spark, tmp_path)
    compacted = current_snapshot(spark, done.table)
    whole = read_changes(spark, done.catalog, TableChanges(DIM_CURRENCY, done.snapshots[1].snapshot_id,
                                                           compacted.snapshot_id))
    assert whole.num_rows == 6
    assert {"currency_id": 4, "currency_code": "XXX", "currency_name": None} in whole.to_pylist()


def test_maintenance_of_a_table_that_fails_names_the_table_and_leaves_it_at_its_last_commit(spark, tmp_path):
    from totes.maintenance import MaintenanceError

    catalog = _catalog(tmp_path)
    use_catalog(spark, catalog)
    create_table(spark, catalog, DIM_CURRENCY.name, DIM_CURRENCY.spark_schema)
    table = catalog.table(DIM_CURRENCY.name)
    for row in [(1, "GBP", "Pound Sterling"), (2, "XXX", None), (3, "EUR", "Euro"), (4, "USD", "US Dollar"),
                (5, "JPY", "Yen")]:  # five small files: enough for a compaction to rewrite
        merge_into(spark, table, spark.createDataFrame([row], DIM_CURRENCY.spark_schema), DIM_CURRENCY.natural_key)
    before = current_snapshot(spark, table)
    data_file = next(Path(tmp_path / "processed" / DIM_CURRENCY.name / "data").glob("*.parquet"))
    data_file.unlink()  # a data file lost from under the table: compaction cannot read it

    with pytest.raises(MaintenanceError, match=rf"maintenance of {PROCESSED_DATABASE}\.dim_currency failed"):
        maintain(spark, catalog, [DIM_CURRENCY.name], MaintenancePolicy(24, 5, 1, 3))
    assert current_snapshot(spark, table).snapshot_id == before.snapshot_id


@pytest.mark.parametrize("change, message", [
    ({"orphan_file_retention_days": 0.5}, "at least 1"),
    ({"snapshots_to_retain": 0}, "at least 1"),
    ({"snapshot_retention_days": 1, "every_hours": 24}, "longer than the interval"),
])
def test_a_policy_that_would_lose_what_the_pipeline_needs_is_refused(change, message):
    settings = {"every_hours": 24, "snapshot_retention_days": 5, "snapshots_to_retain": 1,
                "orphan_file_retention_days": 3, **change}
    with pytest.raises(ValueError, match=message):
        MaintenancePolicy(**settings)


def test_the_definition_lists_every_table_the_transformation_creates_and_nothing_else():
    from totes.transform.quality import FACT_SOURCE_TABLES
    from totes.transform.commits import LOOKUP_TABLES, current_state_table, quarantine_table

    created = ([table.name for table in WAREHOUSE_TABLES] + [quarantine_table(name) for name in FACT_SOURCE_TABLES]
               + [current_state_table(name) for name in LOOKUP_TABLES])
    maintenance = load_maintenance()
    assert sorted(maintenance.tables) == sorted(created)
    assert len(set(maintenance.tables)) == len(maintenance.tables)


def test_the_local_definition_gives_the_job_arguments_of_the_transformation_and_a_valid_policy():
    definition = json.loads((REPO_DIR / "workflow" / "workflow.json").read_text())
    transform = definition["jobs"]["transform"]["arguments"]
    maintenance = Maintenance.from_definition(definition["maintenance"])
    assert {key: transform[key] for key in maintenance.arguments} == maintenance.arguments
    assert load_maintenance().arguments["--processed-catalog"] == f"jdbc:{PROCESSED_CATALOG_SECRET_ID}"


def test_a_table_keeps_a_bounded_number_of_metadata_files_however_many_commits(spark, tmp_path):
    catalog = _catalog(tmp_path)
    use_catalog(spark, catalog)
    create_table(spark, catalog, DIM_CURRENCY.name, DIM_CURRENCY.spark_schema)
    table = catalog.table(DIM_CURRENCY.name)
    # The tables' own limit is 100 previous versions; two here, so that a few commits pass it.
    spark.sql(f"ALTER TABLE {table} SET TBLPROPERTIES ('write.metadata.previous-versions-max' = '2')")
    for number in range(6):
        merge_into(spark, table, spark.createDataFrame([(number, f"C{number:02d}", None)], DIM_CURRENCY.spark_schema),
                   DIM_CURRENCY.natural_key)
    metadata_files = sorted((tmp_path / "processed" / DIM_CURRENCY.name / "metadata").glob("*.metadata.json"))
    assert len(metadata_files) == 3, [path.name for path in metadata_files]  # the current one and two before it
    assert spark.table(table).count() == 6
