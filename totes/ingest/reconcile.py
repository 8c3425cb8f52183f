"""Reconciliation: what a ``last_updated`` delta cannot see, found by comparing row hashes with the source.

A bookmark on ``last_updated`` misses three things (DESIGN.md §1, README "Reconciliation"):

- **edits that keep ``last_updated``** (the real data has 39 sales orders edited this way);
- **deleted rows** (a delta only ever sees rows that exist);
- **rows committed below a window already read** (a transaction held open longer than
  ``--max-transaction-wait-seconds`` plus the overlap).

A reconciliation run reads, for every table, ``(id, last_updated, row hash)`` of every source row at or below
the table's committed upper bound, and compares it with the *ingested state*: the latest ingested version of
each row, with the same hash computed in Spark over the ingested parquet. Rows that differ or are missing are
read again and written as an ordinary ingestion output (a later copy of a version wins downstream); rows that
are gone from the source are recorded as deletions under ``_deletions/<table>/run_id=<run>/``, which the
transformation turns into the warehouse's ``source_deletion`` table (the delete policy: nothing is removed
from the warehouse; deletions are flagged).

The ingested state is kept between reconciliations as a small snapshot per table
(``_state/reconcile/<table>/run_id=<run>/``: id, last_updated, hash, deleted, run), updated from the committed
manifests written since, so a reconciliation never re-reads the ingestion zone's whole history.

A reconciliation is its own run of the ingestion job (own run id, manifest and bookmark commit): the Glue job
runs it before the delta when it is due (``--reconcile-every-hours``) or asked for (``--reconcile now``). It
runs inside the same Glue job as the 15-minute deltas on purpose: Glue allows one start trigger per workflow
and one concurrent run per job, so a second workflow sharing the job would collide with the deltas.

The row hash is MD5 over one canonical text per row, computed identically by PostgreSQL and Spark:
columns joined with the unit separator (0x1F), NULL written as the record separator (0x1E), timestamps as
``YYYY-MM-DD HH:MM:SS.mmm``, numerics, integers, booleans (``true``/``false``) and enums as their text.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field

from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from totes.bookmarks import JobBookmark
from totes.ingest.run import SourceReader, transformation_ctx
from totes.tables import DELETION_SCHEMA, expected_spark_schema
from totes.ingest.source_schema import check_source_schema
from totes.ingest.window import format_timestamp, parse_timestamp
from totes.logs import log_event
from totes.manifests import RunManifest, TableOutput, list_manifests, write_manifest
from totes.parquet_io import write_parquet
from totes.settings import INGEST_CONCURRENT_TABLES
from totes.spark_frames import empty_frame
from totes.spark_threads import in_parallel
from totes.tables import Column, SourceTable
from totes.zones import ZoneStore

logger = logging.getLogger("totes.ingest")

BOOKMARK_CTX = "reconciliation"
FIELD_SEPARATOR = "\x1f"
NULL_MARKER = "\x1e"
# Keys re-read per query: the id list travels in the SQL text (integers this job computed, never input).
KEYS_PER_QUERY = 20_000
# Above this many differing rows one partitioned read of the table is cheaper than many id-list queries.
MAX_KEYS_BY_LIST = 200_000

STATE_SCHEMA = T.StructType([
    T.StructField("source_id", T.IntegerType(), False),
    T.StructField("last_updated", T.TimestampType(), False),
    T.StructField("row_hash", T.BinaryType(), True),  # NULL for a deletion
    T.StructField("deleted", T.BooleanType(), False),
    T.StructField("seen_in", T.StringType(), False),  # the run that ingested this version (or the deletion)
])


# -- the canonical row text, once per engine ---------------------------------------------------------------
def _pg_text(column: Column) -> str:
    name = f'"{column.name}"'
    if column.pg_type == "timestamp(3)":
        return f"to_char({name}, 'YYYY-MM-DD HH24:MI:SS.MS')"
    return f"{name}::text"


def row_hash_sql(table: SourceTable) -> str:
    """The SQL expression of a row's hash (16 bytes), e.g. in ``SELECT id, <this> FROM table``."""
    texts = ", ".join(f"coalesce({_pg_text(column)}, E'\\x1e')" for column in table.columns)
    return f"decode(md5(concat_ws(E'\\x1f', {texts})), 'hex')"


def _spark_text(column: Column) -> SparkColumn:
    value = F.col(column.name)
    if column.pg_type == "timestamp(3)":
        return F.date_format(value, "yyyy-MM-dd HH:mm:ss.SSS")
    return value.cast("string")


def row_hash(table: SourceTable) -> SparkColumn:
    """The same hash as :func:`row_hash_sql`, over a frame with the ingestion zone's schema."""
    texts = [F.coalesce(_spark_text(column), F.lit(NULL_MARKER)) for column in table.columns]
    return F.unhex(F.md5(F.concat_ws(FIELD_SEPARATOR, *texts)))


def source_hashes_query(table: SourceTable) -> str:
    """Every source row's id, last_updated and hash: a whole-table scan, which is the point.

    Rows above the committed upper bound are read too (and left to the next delta): without them, a row
    updated since the last delta would look deleted.
    """
    return (f'SELECT "{table.primary_key}" AS source_id, last_updated, {row_hash_sql(table)} AS row_hash '
            f"FROM {table.quoted_name} WHERE true")


def rows_by_key_query(table: SourceTable, keys: list[int], to_inclusive: dt.datetime) -> str:
    columns = ", ".join(column.select_expression for column in table.columns)
    id_list = ",".join(str(int(key)) for key in keys)
    bound = f"TIMESTAMP '{format_timestamp(to_inclusive)}'"
    return (f"SELECT {columns} FROM {table.quoted_name} WHERE \"{table.primary_key}\" = ANY('{{{id_list}}}'::integer[]) "
            f"AND last_updated <= {bound}")


def rows_up_to_query(table: SourceTable, to_inclusive: dt.datetime) -> str:
    columns = ", ".join(column.select_expression for column in table.columns)
    return f"SELECT {columns} FROM {table.quoted_name} WHERE last_updated <= TIMESTAMP '{format_timestamp(to_inclusive)}'"


# -- the ingested state --------------------------------------------------------------------------------------
def latest_per_row(state_df: DataFrame) -> DataFrame:
    """One row per source id: the newest version, and of two copies of one version the later run's.

    A deletion carries the last_updated of the version it follows, so it wins over that version (later run)
    and loses to any newer one (the row came back).
    """
    window = Window.partitionBy("source_id").orderBy(F.col("last_updated").desc(), F.col("seen_in").desc())
    return (state_df.withColumn("_rank", F.row_number().over(window)).where(F.col("_rank") == 1)
            .select(*STATE_SCHEMA.fieldNames()))


def state_prefix(table: str, run_id: str) -> str:
    return f"_state/reconcile/{table}/run_id={run_id}"


def deletions_prefix(table: str, run_id: str) -> str:
    return f"_deletions/{table}/run_id={run_id}"


@dataclass
class TableReconciliation:
    table: str
    compared: int = 0  # source rows at or below the upper bound
    changed: int = 0  # ingested, but the source row differs (same or other last_updated)
    missing: int = 0  # never ingested although at or below the upper bound
    deleted: int = 0  # ingested, gone from the source
    reingested: int = 0  # rows read again and written (changed + missing, less rows moved on meanwhile)
    files: list[str] = field(default_factory=list)
    deletion_files: list[str] = field(default_factory=list)
    to_inclusive: str | None = None
    seconds: float = 0.0

    @property
    def status(self) -> str:
        return "written" if self.files or self.deletion_files else "unchanged"

    def details(self) -> dict:
        return {"status": self.status, "mode": "reconcile", "compared": self.compared, "changed": self.changed,
                "missing": self.missing, "deleted": self.deleted, "reingested": self.reingested,
                "deletion_files": self.deletion_files, "seconds": self.seconds}


@dataclass
class ReconciliationResult:
    run_id: str
    manifest_key: str | None
    tables: list[TableReconciliation]

    @property
    def total_rows(self) -> int:
        return sum(result.reingested for result in self.tables)

    def summary(self) -> dict:
        return {r.table: {"compared": r.compared, "changed": r.changed, "missing": r.missing,
                          "deleted": r.deleted, "reingested": r.reingested} for r in self.tables}


def reconciliation_due(bookmark: JobBookmark, every_hours: float, now: dt.datetime) -> bool:
    """Whether ``every_hours`` (0: never by schedule) have passed since the last committed reconciliation, or,
    before the first one, since the schedule started (:func:`start_schedule`, staged by the first delta: a
    full read needs no reconciliation right after it)."""
    state = bookmark.state(BOOKMARK_CTX) or {}
    since = state.get("reconciled_at") or state.get("scheduled_from")
    if every_hours <= 0 or since is None:
        return False
    return now - dt.datetime.fromisoformat(since) >= dt.timedelta(hours=every_hours)


def start_schedule(bookmark: JobBookmark, now: dt.datetime) -> None:
    """Stage the start of the reconciliation schedule if there is none yet (committed with the delta)."""
    if bookmark.state(BOOKMARK_CTX) is None:
        bookmark.stage(BOOKMARK_CTX, {"scheduled_from": now.isoformat()})


class ReconciliationRun:
    """Compares every table with the source, re-ingests what differs, records deletions, commits a manifest."""

    def __init__(self, spark: SparkSession, reader: SourceReader, zone: ZoneStore, bookmark: JobBookmark,
                 run_id: str, tables: list[SourceTable], glue_job_run_id: str | None = None):
        self.spark = spark
        self.reader = reader
        self.zone = zone
        self.bookmark = bookmark
        self.run_id = run_id
        self.tables = tables
        self.glue_job_run_id = glue_job_run_id
        self.read_partitions = max(1, spark.sparkContext.defaultParallelism)

    def run(self) -> ReconciliationResult:
        started_at = dt.datetime.now(dt.timezone.utc)
        # As a delta does: a drifted source fails here with the differences named, before anything is read.
        check_source_schema(self.tables, self.reader.observed_columns(self.tables))
        state = self.bookmark.state(BOOKMARK_CTX) or {}
        # Everything committed since the last snapshot: this job's deltas and reconciliations alike.
        manifests = list_manifests(self.zone, self.bookmark.job_name, state.get("through_run_id"))
        detected_at = self.reader.clock().now
        log_event(logger, "reconciliation started", run_id=self.run_id, after_run_id=state.get("through_run_id"),
                  manifests_since=len(manifests), tables=len(self.tables))
        snapshots = dict(state.get("tables", {}))
        # Tables side by side, as the delta reads them: each is a few small Spark jobs and round trips.
        outcomes = in_parallel(
            lambda table: self._reconcile_table(table, snapshots.get(table.name), manifests, detected_at),
            self.tables, INGEST_CONCURRENT_TABLES, "reconcile")
        results = [result for result, _ in outcomes]
        for result, snapshot in outcomes:
            if snapshot is not None:
                snapshots[result.table] = snapshot
        reconciled = [r for r in results if r.to_inclusive is not None]
        manifest = RunManifest(
            job_name=self.bookmark.job_name, run_id=self.run_id, started_at=started_at.isoformat(),
            finished_at=dt.datetime.now(dt.timezone.utc).isoformat(), bookmark_option=self.bookmark.option,
            glue_job_run_id=self.glue_job_run_id,
            tables={r.table: TableOutput(r.table, r.reingested, r.files,
                                         window={"from_exclusive": None, "to_inclusive": r.to_inclusive,
                                                 "previous_to_inclusive": r.to_inclusive},
                                         details=r.details())
                    for r in reconciled},
        )
        manifest_key = write_manifest(self.zone, manifest)
        self._stage_bookmark(reconciled, snapshots, started_at)
        log_event(logger, "reconciliation manifest written", manifest=manifest_key,
                  reingested=sum(r.reingested for r in results), deleted=sum(r.deleted for r in results))
        return ReconciliationResult(self.run_id, manifest_key, results)

    def _stage_bookmark(self, reconciled: list[TableReconciliation], snapshots: dict, started_at: dt.datetime):
        """The snapshots for next time; re-ingested files join each table's overlap outputs, so the next delta
        does not ingest those versions again if they fall in its overlap."""
        for result in reconciled:
            if not result.files:
                continue
            ctx = f"source_{result.table}"
            table_state = self.bookmark.state(ctx) or {}
            table_state.setdefault("recent_outputs", []).append(
                {"run_id": self.run_id, "to_inclusive": result.to_inclusive, "files": result.files})
            self.bookmark.stage(ctx, table_state)
        self.bookmark.stage(BOOKMARK_CTX, {"through_run_id": self.run_id, "reconciled_at": started_at.isoformat(),
                                           "tables": snapshots})

    # -- one table -------------------------------------------------------------------------------------------
    def _reconcile_table(self, table: SourceTable, snapshot: dict | None, manifests: list[RunManifest],
                         detected_at: dt.datetime) -> tuple[TableReconciliation, dict | None]:
        started = time.monotonic()
        result = TableReconciliation(table.name)
        committed = self.bookmark.state(transformation_ctx(table)) or {}
        to_inclusive = parse_timestamp(committed.get("to_inclusive"))
        if to_inclusive is None:
            log_event(logger, "table never ingested; nothing to reconcile", table=table.name)
            return result, None
        result.to_inclusive = format_timestamp(to_inclusive)
        ingested_df = self._ingested_state(table, snapshot, manifests).cache()
        judged_df = self._judge(table, ingested_df, to_inclusive).cache()
        try:
            counts = {row.verdict: row["count"] for row in judged_df.groupBy("verdict").count().collect()}
            result.compared = sum(counts.get(v, 0) for v in ("agrees", "changed", "missing"))
            result.changed, result.missing = counts.get("changed", 0), counts.get("missing", 0)
            result.deleted = counts.get("deleted", 0)
            updates = []
            if result.changed or result.missing:
                differing_df = judged_df.where(F.col("verdict").isin("changed", "missing")).select("source_id")
                rows_df = self._rows_again(table, differing_df, result.changed + result.missing, to_inclusive)
                prefix = f"{table.name}/ingest_date={detected_at:%Y-%m-%d}/run_id={self.run_id}"
                written = write_parquet(self.spark, rows_df.coalesce(1), self.zone, prefix)
                result.files, result.reingested = written.files, written.rows
                if written.files:
                    updates.append(self._versions_in(table, written.files, self.run_id))
            if result.deleted:
                deletions_df = judged_df.where(F.col("verdict") == "deleted").select(
                    "source_id", F.col("ingested_last_updated").alias("last_updated"),
                    F.lit(detected_at).cast("timestamp").alias("detected_at"))
                written = write_parquet(self.spark, deletions_df.coalesce(1), self.zone,
                                        deletions_prefix(table.name, self.run_id))
                result.deletion_files = written.files
                updates.append(self._tombstones_in(written.files, self.run_id))
            new_snapshot = self._write_snapshot(table, ingested_df, updates)
        finally:
            judged_df.unpersist()
            ingested_df.unpersist()
        result.seconds = round(time.monotonic() - started, 3)
        level = logging.WARNING if result.changed or result.missing or result.deleted else logging.INFO
        log_event(logger, "table reconciled", level, table=table.name, compared=result.compared,
                  changed=result.changed, missing=result.missing, deleted=result.deleted,
                  reingested=result.reingested, snapshot_rows=new_snapshot["rows"], seconds=result.seconds)
        return result, new_snapshot

    def _judge(self, table: SourceTable, ingested_df: DataFrame, to_inclusive: dt.datetime) -> DataFrame:
        """Per source id: agrees, changed, missing, deleted, gone (deleted before, still absent) or later
        (above the committed upper bound: the next delta's)."""
        source_df = self.reader.query(source_hashes_query(table), table.name, "source_id", self.read_partitions)
        s, i = source_df.alias("s"), ingested_df.alias("i")
        in_source, was_ingested = F.col("s.source_id").isNotNull(), F.col("i.source_id").isNotNull()
        ingested_deleted = F.coalesce(F.col("i.deleted"), F.lit(False))
        differs = ((F.col("s.last_updated") != F.col("i.last_updated"))
                   | (F.col("s.row_hash") != F.col("i.row_hash")))
        verdict = (F.when(in_source & (F.col("s.last_updated") > F.lit(to_inclusive)), "later")
                   .when(in_source & (~was_ingested | ingested_deleted), "missing")
                   .when(in_source & differs, "changed")
                   .when(in_source, "agrees")
                   .when(~ingested_deleted, "deleted")
                   .otherwise("gone"))
        return s.join(i, F.col("s.source_id") == F.col("i.source_id"), "full_outer").select(
            F.coalesce(F.col("s.source_id"), F.col("i.source_id")).alias("source_id"),
            F.col("i.last_updated").alias("ingested_last_updated"),
            verdict.alias("verdict"))

    def _rows_again(self, table: SourceTable, differing_df: DataFrame, how_many: int,
                    to_inclusive: dt.datetime) -> DataFrame:
        """The full source rows of the differing ids (still at or below the bound: a row that moved on since
        is the next delta's)."""
        if how_many > MAX_KEYS_BY_LIST:
            all_df = self.reader.query(rows_up_to_query(table, to_inclusive), table.name, table.primary_key,
                                       self.read_partitions)
            return all_df.join(differing_df.withColumnRenamed("source_id", table.primary_key),
                               on=table.primary_key, how="left_semi")
        keys = sorted(row.source_id for row in differing_df.collect())
        frames = [self.reader.query(rows_by_key_query(table, keys[start:start + KEYS_PER_QUERY], to_inclusive),
                                    table.name)
                  for start in range(0, len(keys), KEYS_PER_QUERY)]
        rows_df = frames[0]
        for frame in frames[1:]:
            rows_df = rows_df.unionByName(frame)
        return rows_df.select(*table.column_names)

    # -- the ingested state ------------------------------------------------------------------------------------
    def _versions_in(self, table: SourceTable, files: list[str], run_id: str) -> DataFrame:
        rows_df = self.spark.read.schema(expected_spark_schema(table)).parquet(*(self.zone.uri_of(k) for k in files))
        return rows_df.select(F.col(table.primary_key).alias("source_id"), "last_updated",
                              row_hash(table).alias("row_hash"), F.lit(False).alias("deleted"),
                              F.lit(run_id).alias("seen_in"))

    def _tombstones_in(self, files: list[str], run_id: str) -> DataFrame:
        deletions_df = self.spark.read.schema(DELETION_SCHEMA).parquet(*(self.zone.uri_of(k) for k in files))
        return deletions_df.select("source_id", "last_updated", F.lit(None).cast("binary").alias("row_hash"),
                                   F.lit(True).alias("deleted"), F.lit(run_id).alias("seen_in"))

    def _ingested_state(self, table: SourceTable, snapshot: dict | None,
                        manifests: list[RunManifest]) -> DataFrame:
        """The latest ingested version of every row: the last snapshot plus what committed runs wrote since."""
        parts = []
        if snapshot:
            files = [key for key in self.zone.list_keys(state_prefix(table.name, snapshot["run_id"]))
                     if key.endswith(".parquet")]
            if files:
                parts.append(self.spark.read.schema(STATE_SCHEMA).parquet(*(self.zone.uri_of(k) for k in files)))
        for manifest in manifests:
            output = manifest.tables.get(table.name)
            if output is None:
                continue
            if output.files:
                parts.append(self._versions_in(table, output.files, manifest.run_id))
            if output.details.get("deletion_files"):
                parts.append(self._tombstones_in(output.details["deletion_files"], manifest.run_id))
        if not parts:
            return empty_frame(self.spark, STATE_SCHEMA)
        state_df = parts[0]
        for part in parts[1:]:
            state_df = state_df.unionByName(part)
        return latest_per_row(state_df)

    def _write_snapshot(self, table: SourceTable, ingested_df: DataFrame, updates: list[DataFrame]) -> dict:
        state_df = ingested_df
        for update in updates:
            state_df = state_df.unionByName(update)
        if updates:
            state_df = latest_per_row(state_df)
        written = write_parquet(self.spark, state_df.coalesce(1), self.zone, state_prefix(table.name, self.run_id))
        return {"run_id": self.run_id, "rows": written.rows}
