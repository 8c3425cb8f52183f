"""One load batch: the committed transform runs after the load job's bookmark, and the files to read for it.

The transformation job commits each run with a manifest (``_manifests/totesys-transform/<run id>.json`` in the
processed zone) that lists, per table, the files of that run: for a fact, the new rows of the run; for a
dimension, its complete current snapshot (possibly an earlier run's, when nothing changed). Only files listed
in committed manifests are read; folders of killed transform runs are never looked at.

Several transform runs can be waiting (the load job failed or did not run meanwhile). They are loaded as ONE
batch: every fact file of every run (overlaps are harmless, facts are idempotent on their natural key), and
for each dimension only the newest snapshot among them, which already holds every row of the older ones.

A dimension whose newest snapshot was written by a transform run the bookmark says is loaded (the manifests
report it "unchanged", pointing at that earlier snapshot) is skipped: that snapshot is in the warehouse
already. A dimension whose every snapshot since the bookmark came with the rows its batch touched
(``changes_files``: single-source dimensions such as dim_transaction) loads only those rows. Without a bookmark
state (first run, reset, ``job-bookmark-disable``) every snapshot is loaded whole.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

import pyarrow as pa
from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema

from totes.logs import log_event
from totes.manifests import RunManifest, list_manifest_run_ids, manifest_prefix
from totes.parquet_io import run_id_of_input_file
from totes.spark_errors import file_failure, names_a_file
from totes.star import WAREHOUSE_TABLES, StarTable
from totes.warehouse.errors import BatchInputError
from totes.warehouse.loader import RUN_ID_COLUMN
from totes.zones import ZoneStore

logger = logging.getLogger("totes.warehouse")
MAX_FILES_NAMED = 5


@dataclass(frozen=True)
class TableFiles:
    """One table of the batch: zone-relative parquet keys, and the transform runs they come from."""

    table: StarTable
    files: tuple[str, ...]
    run_ids: tuple[str, ...]  # facts: the runs whose new rows these are; dimensions: the snapshot's run
    corrects_versions: bool = False  # facts: some rows may correct versions already loaded (reconciliation)
    changes_only: bool = False  # dimensions: only the rows the runs touched (a row may repeat: the last wins)


@dataclass(frozen=True)
class LoadBatch:
    manifests: tuple[RunManifest, ...]  # in run order
    tables: tuple[TableFiles, ...]  # in load order (dimensions before facts), only tables the batch has
    already_loaded: dict[str, str] = field(default_factory=dict)  # dimension -> snapshot run id, skipped

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


def plan_batch(manifests: list[RunManifest], loaded_through: str | None = None) -> LoadBatch:
    """The files of one batch: every fact file of every manifest, the newest snapshot of each dimension.

    ``loaded_through``: the newest transform run an earlier load committed (the bookmark); snapshots written
    by it or before it are in the warehouse already.
    """
    known = {table.name for table in WAREHOUSE_TABLES}
    unknown = sorted({name for manifest in manifests for name in manifest.tables if name not in known})
    if unknown:
        log_event(logger, "manifests list tables the warehouse does not have; ignored", logging.WARNING,
                  tables=unknown)
    tables = []
    already_loaded = {}
    for table in WAREHOUSE_TABLES:
        listed = [manifest for manifest in manifests if table.name in manifest.tables]
        if not listed:
            continue
        if table.is_fact:
            files = list(dict.fromkeys(key for m in listed for key in m.tables[table.name].files))
            run_ids = [m.run_id for m in listed if m.tables[table.name].files]
            corrects = any(m.tables[table.name].details.get("corrects_versions") for m in listed)
            tables.append(TableFiles(table, tuple(files), tuple(run_ids), corrects))
            continue
        newest = listed[-1]
        output = newest.tables[table.name]
        snapshot_run_id = output.details.get("snapshot_run_id") or newest.run_id
        if loaded_through is not None and snapshot_run_id <= loaded_through:
            already_loaded[table.name] = snapshot_run_id
            continue
        # The warehouse holds every snapshot up to the bookmark. If each snapshot written since came with the
        # rows its batch touched, those rows are all that can differ: merge them, not the whole snapshot.
        rewrites = [m for m in listed if m.tables[table.name].details.get("status") == "written"]
        if loaded_through is not None and rewrites and all(
                "changes_files" in m.tables[table.name].details for m in rewrites):
            files = [key for m in rewrites for key in m.tables[table.name].details["changes_files"]]
            tables.append(TableFiles(table, tuple(files), tuple(m.run_id for m in rewrites), changes_only=True))
            continue
        tables.append(TableFiles(table, tuple(output.files), (snapshot_run_id,)))
    return LoadBatch(tuple(manifests), tuple(tables), already_loaded)


def _folder(key: str) -> str:
    return key.rsplit("/", 1)[0] if "/" in key else ""


def check_files_exist(zone: ZoneStore, batch: LoadBatch) -> None:
    """Every listed file exists; one listing per folder rather than one request per file (S3)."""
    folders = {_folder(key) for table_files in batch.tables for key in table_files.files}
    present = {key for folder in folders for key in zone.list_keys(folder)}
    missing = [(table_files.table.name, key) for table_files in batch.tables for key in table_files.files
               if key not in present]
    if missing:
        listed = "; ".join(f"{table}: {zone.uri_of(key)}" for table, key in missing)
        raise BatchInputError(
            f"{len(missing)} files listed by the transform manifests {', '.join(batch.run_ids)} are missing: "
            f"{listed}"
        )


def read_table(spark: SparkSession, zone: ZoneStore, table_files: TableFiles) -> pa.Table:
    """The rows of one table's files as Arrow, with exactly the columns and types of ``totes/star.py``.

    The explicit schema reads each listed file directly (fact partition columns live only in folder names),
    and makes a file whose column has another physical type fail instead of being cast.
    """
    table = table_files.table
    arrow_schema = to_arrow_schema(table.spark_schema)
    if not table_files.files:
        return arrow_schema.empty_table()
    uris = [zone.uri_of(key) for key in table_files.files]
    try:
        rows_df = spark.read.schema(table.spark_schema).parquet(*uris).select(*table.column_names)
        if table.is_fact:
            # Fact files sit under <fact>/run_id=<transform run>/...: the loader keeps the later copy of a version.
            rows_df = rows_df.withColumn(RUN_ID_COLUMN, run_id_of_input_file())
            arrow_schema = arrow_schema.append(pa.field(RUN_ID_COLUMN, pa.string()))
        elif table_files.changes_only and len(table_files.run_ids) > 1:
            # A row touched by several runs: the last run's values are the current ones.
            latest = Window.partitionBy(*table.natural_key).orderBy(
                run_id_of_input_file().desc())
            rows_df = (rows_df.withColumn("_latest", F.row_number().over(latest)).where(F.col("_latest") == 1)
                       .select(*table.column_names))
        # Arrow batches straight from the JVM: no Python object per row (Spark 4 names this toArrow()).
        batches = rows_df._collect_as_arrow()
    except Exception as error:  # noqa: BLE001 - any read failure is a bad batch, re-raised with what is wrong
        failure = file_failure(error)
        if not names_a_file(failure):
            # Some causes (a stream cut short by a corrupt page) name no file: say which ones were read.
            shown = ", ".join(uris[:MAX_FILES_NAMED]) + (f" and {len(uris) - MAX_FILES_NAMED} more"
                                                         if len(uris) > MAX_FILES_NAMED else "")
            failure = f"{failure} (reading {shown})"
        raise BatchInputError(
            f"cannot read the {table.name} files of transform runs {', '.join(table_files.run_ids)}: {failure}"
        ) from None
    if not batches:
        return arrow_schema.empty_table()
    return pa.Table.from_batches(batches)
