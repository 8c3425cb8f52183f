"""One load batch: the committed transform runs after the load job's bookmark, and the table changes to read.

The transformation commits each run with a manifest (``_manifests/totesys-transform/<run id>.json`` in the
processed zone) naming the Iceberg snapshot of every processed table the run left (README, "The processed
zone"). The load job's bookmark holds the snapshot of each table it last loaded. A batch reads, per table, the
changes between the two: Iceberg's changelog of the commits in between, of which the rows inserted (a new row,
or the new content of a row rewritten) are what the warehouse merges (when those commits only appended, as a fact's
usually do, an incremental scan of the files they added); snapshots of commits a killed transform
run made after its last manifest are never read.

Several transform runs can be waiting (the load job failed or did not run meanwhile): the newest manifest's
snapshots cover every older one's, so they are loaded as ONE batch. Without a bookmark state (first run, reset,
``job-bookmark-disable``), or when the loaded snapshot has since been expired by table maintenance, a table is
read whole at the target snapshot: harmless, since every merge into the warehouse is idempotent.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema

from totes.iceberg import ProcessedCatalog
from totes.logs import log_event
from totes.manifests import RunManifest, list_manifest_run_ids, manifest_prefix
from totes.spark_errors import file_failure, names_a_file
from totes.star import WAREHOUSE_TABLES, StarTable
from totes.warehouse.errors import BatchInputError
from totes.zones import ZoneStore

logger = logging.getLogger("totes.warehouse")
MAX_FILES_NAMED = 5


@dataclass(frozen=True)
class TableChanges:
    """One table of the batch: its changes after ``loaded_snapshot`` (None: every row) up to ``target_snapshot``."""

    table: StarTable
    loaded_snapshot: int | None
    target_snapshot: int
    corrects_versions: bool = False  # facts: some rows may correct versions already loaded (reconciliation)


@dataclass(frozen=True)
class LoadBatch:
    manifests: tuple[RunManifest, ...]  # in run order
    tables: tuple[TableChanges, ...]  # in load order (dimensions before facts), only tables with changes
    targets: dict[str, int] = field(default_factory=dict)  # table -> the snapshot the batch loads up to
    already_loaded: dict[str, int] = field(default_factory=dict)  # table -> its snapshot, in the warehouse

    @property
    def run_ids(self) -> list[str]:
        return [manifest.run_id for manifest in self.manifests]

    @property
    def newest_run_id(self) -> str | None:
        return self.manifests[-1].run_id if self.manifests else None


def read_manifests(zone: ZoneStore, job_name: str, after_run_id: str | None) -> list[RunManifest]:
    """Committed manifests of ``job_name`` after ``after_run_id`` in run order; an unreadable one is named."""
    manifests = []
    for run_id in list_manifest_run_ids(zone, job_name, after_run_id):
        key = f"{manifest_prefix(job_name)}{run_id}.json"
        try:
            manifest = RunManifest.from_json(zone.read_text(key))
        except (json.JSONDecodeError, TypeError, KeyError, AttributeError) as error:
            raise BatchInputError(f"manifest {key} is unreadable: {type(error).__name__}: {error}") from None
        if manifest.run_id != run_id:
            raise BatchInputError(f"manifest {key} says it is run {manifest.run_id!r}")
        manifests.append(manifest)
    return manifests


def plan_batch(manifests: list[RunManifest], loaded: dict[str, int] | None = None) -> LoadBatch:
    """The tables of one batch: up to the newest manifest's snapshots, from the ``loaded`` ones (the bookmark)."""
    if not manifests:
        return LoadBatch((), ())
    loaded = loaded or {}
    newest = manifests[-1]
    known = {table.name for table in WAREHOUSE_TABLES}
    unknown = sorted(name for name in newest.tables if name not in known)
    if unknown:
        log_event(logger, "manifests list tables the warehouse does not have; ignored", logging.WARNING,
                  tables=unknown)
    tables, targets, already_loaded = [], {}, {}
    for table in WAREHOUSE_TABLES:
        output = newest.tables.get(table.name)
        target = output.details.get("snapshot_id") if output else None
        if target is None:  # the table has never been written
            continue
        targets[table.name] = target
        if loaded.get(table.name) == target:
            already_loaded[table.name] = target
            continue
        corrects = any(m.tables[table.name].details.get("corrects_versions")
                       for m in manifests if table.name in m.tables)
        tables.append(TableChanges(table, loaded.get(table.name), target, corrects))
    return LoadBatch(tuple(manifests), tuple(tables), targets, already_loaded)


def _in_history(spark: SparkSession, identifier: str, loaded: int, target: int) -> bool:
    """Whether the loaded snapshot is still an ancestor of the target (table maintenance expires old ones)."""
    jvm = spark.sparkContext._jvm
    table = jvm.org.apache.iceberg.spark.Spark3Util.loadIcebergTable(spark._jsparkSession, identifier)
    return table.snapshot(loaded) is not None and jvm.org.apache.iceberg.util.SnapshotUtil.isAncestorOf(
        table, target, loaded)


def _only_appends(spark: SparkSession, identifier: str, loaded: int, target: int) -> bool:
    """Whether every commit after the loaded snapshot up to the target only added data files."""
    jvm = spark.sparkContext._jvm
    table = jvm.org.apache.iceberg.spark.Spark3Util.loadIcebergTable(spark._jsparkSession, identifier)
    snapshots = jvm.org.apache.iceberg.util.SnapshotUtil.ancestorsBetween(table, target, loaded).iterator()
    while snapshots.hasNext():
        if snapshots.next().operation() != "append":
            return False
    return True


def _changed_rows(spark: SparkSession, catalog: ProcessedCatalog, changes: TableChanges) -> DataFrame:
    """The rows committed after the loaded snapshot up to the target: each key's newest inserted row."""
    table = changes.table
    identifier = catalog.table(table.name)
    whole = spark.read.format("iceberg").option("snapshot-id", str(changes.target_snapshot))
    if changes.loaded_snapshot is None:
        return whole.load(identifier)
    if not _in_history(spark, identifier, changes.loaded_snapshot, changes.target_snapshot):
        log_event(logger, "the loaded snapshot is no longer in the table's history (expired by maintenance); "
                          "reading the table whole", logging.WARNING, table=table.name,
                  loaded_snapshot=changes.loaded_snapshot, target_snapshot=changes.target_snapshot)
        return whole.load(identifier)
    if _only_appends(spark, identifier, changes.loaded_snapshot, changes.target_snapshot):
        # Commits that only added files (a fact's insert-only MERGE, the usual delta): Iceberg's incremental
        # scan reads just those files, with no changelog to plan and no window over it. A version is appended
        # once (the transformation's MERGE inserts only keys the table lacks), so there is nothing to collapse.
        return (spark.read.format("iceberg").option("start-snapshot-id", str(changes.loaded_snapshot))
                .option("end-snapshot-id", str(changes.target_snapshot)).load(identifier))
    view = f"changes_{uuid.uuid4().hex}"
    # Copy-on-write rewrites whole files: the changelog drops the rows a rewrite carried over unchanged, so
    # what is left inserted is each commit's new rows and the new content of the rows it changed.
    spark.sql(f"CALL {catalog.spark_name}.system.create_changelog_view(table => '{catalog.namespace}.{table.name}', "
              f"options => map('start-snapshot-id', '{changes.loaded_snapshot}', "
              f"'end-snapshot-id', '{changes.target_snapshot}'), changelog_view => '{view}')")
    newest_first = Window.partitionBy(*table.natural_key).orderBy(F.col("_change_ordinal").desc())
    return (spark.table(view).where(F.col("_change_type") == "INSERT")
            .withColumn("_newest", F.row_number().over(newest_first)).where(F.col("_newest") == 1))


def _files_added(spark: SparkSession, catalog: ProcessedCatalog, changes: TableChanges) -> str:
    """The data files the commits after the loaded snapshot (or the target's, read whole) added, a few named."""
    jvm = spark.sparkContext._jvm
    table = jvm.org.apache.iceberg.spark.Spark3Util.loadIcebergTable(spark._jsparkSession,
                                                                    catalog.table(changes.table.name))
    if changes.loaded_snapshot is not None and _in_history(spark, catalog.table(changes.table.name),
                                                           changes.loaded_snapshot, changes.target_snapshot):
        snapshots = jvm.org.apache.iceberg.util.SnapshotUtil.ancestorsBetween(
            table, changes.target_snapshot, changes.loaded_snapshot).iterator()
    else:
        snapshots = jvm.java.util.List.of(table.snapshot(changes.target_snapshot)).iterator()
    files = []
    while snapshots.hasNext():
        added = snapshots.next().addedDataFiles(table.io()).iterator()
        while added.hasNext():
            files.append(added.next().location())
    shown = ", ".join(files[:MAX_FILES_NAMED])
    return shown + (f" and {len(files) - MAX_FILES_NAMED} more" if len(files) > MAX_FILES_NAMED else "")


def read_changes(spark: SparkSession, catalog: ProcessedCatalog, changes: TableChanges) -> pa.Table:
    """One table's changes as Arrow, with exactly the columns and types of ``totes/star.py``."""
    table = changes.table
    try:
        rows_df = _changed_rows(spark, catalog, changes).select(
            *(F.col(c.name).cast(c.spark_type) for c in table.columns))
        # Arrow batches straight from the JVM: no Python object per row (Spark 4 names this toArrow()).
        batches = rows_df._collect_as_arrow()
    except Exception as error:  # noqa: BLE001 - any read failure is a bad batch, re-raised with what is wrong
        failure = file_failure(error)
        if not names_a_file(failure):
            # Some causes (a corrupt page) name no file: say which files the commits read had added.
            failure = f"{failure} (reading {_files_added(spark, catalog, changes)})"
        raise BatchInputError(
            f"cannot read the changes of {table.name} up to snapshot {changes.target_snapshot}: {failure}") from None
    if not batches:
        return to_arrow_schema(table.spark_schema).empty_table()
    return pa.Table.from_batches(batches)
