"""One ingestion run: every source table's new row versions into the ingestion zone, then one manifest.

Layout of the ingestion zone (README, "Zones"):

    <zone>/<table>/ingest_date=YYYY-MM-DD/run_id=<run id>/part-*.parquet   data, one folder per table and run
    <zone>/_manifests/totesys-ingest/<run id>.json                        the commit record of a run
    <zone>/_state/bookmarks/totesys-ingest.json                           the job bookmark (read windows)

Order of effects, which is what makes a failure harmless: data files first (in folders no earlier run used),
then the manifest (one atomic write: the run becomes visible downstream), then the bookmark (one atomic write).
A run that dies before its manifest leaves only orphan folders that no reader takes; one that dies between
manifest and bookmark is re-read by the next run, whose overlap de-duplication drops what was already written.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field

import psycopg
from psycopg.rows import dict_row
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from totes.bookmarks import ENABLE, JobBookmark
from totes.ingest.errors import (
    SourceGrantError,
    SourceUnavailableError,
    ZoneReadError,
    ZoneWriteError,
    java_root_cause,
    scrub,
)
from totes.ingest.source_schema import ObservedColumn, check_source_schema, columns_query, SchemaDriftError
from totes.ingest.window import (
    CLOCK_QUERY,
    ReadWindow,
    SourceClock,
    WindowPolicy,
    blind_bound_message,
    format_timestamp,
    next_window,
    parse_timestamp,
    Version,
    upper_bound,
    window_query,
    windows_with_rows_query,
)
from totes.logs import log_event
from totes.manifests import RunManifest, TableOutput, list_manifests, write_manifest
from totes.parquet_io import ParquetReadError, rows_stamped_after, write_parquet
from totes.secrets import DatabaseCredentials
from totes.settings import INGEST_CONCURRENT_TABLES, JDBC_FETCH_SIZE
from totes.spark_errors import is_java_error, java_messages
from totes.spark_threads import in_parallel
from totes.tables import SourceTable, expected_spark_schema
from totes.zones import ZoneStore

logger = logging.getLogger("totes.ingest")

# The versions of a delta's overlap that earlier runs already ingested are few on a 15-minute schedule (the rows
# of the previous run's last minutes): up to this many are left out by the source query itself, so the read
# returns new versions only, and the window probe asks the same question: a table whose window holds nothing new
# is not read at all. More (an overlap reaching into the last minutes of a full ingestion of a busy source) are
# dropped after the read, by an anti-join in Spark against the earlier runs' files.
MAX_VERSIONS_EXCLUDED_IN_QUERY = 1000

# The PostgreSQL driver asks for rows in the binary format only for statements prepared this many times;
# -1 does it from the first execution, which every read here is: timestamps and numerics then arrive as
# fixed-width binary instead of text to parse (measured here: 15-25% less time to read the payment table).
PREPARE_THRESHOLD = -1
CONNECT_TIMEOUT_SECONDS = 10


def transformation_ctx(table: SourceTable) -> str:
    return f"source_{table.name}"


class SourceReader:
    """Reads the source through Glue's JDBC connection type (``postgresql``) with pushed-down queries."""

    def __init__(self, glue_context, credentials: DatabaseCredentials, fetch_size: int = JDBC_FETCH_SIZE):
        self.glue_context = glue_context
        self.credentials = credentials
        self.fetch_size = fetch_size

    @property
    def jdbc_url(self) -> str:
        return (f"{self.credentials.jdbc_url}?prepareThreshold={PREPARE_THRESHOLD}"
                f"&defaultRowFetchSize={self.fetch_size}")

    def query(self, sql: str, dbtable: str, hash_column: str | None = None, partitions: int = 1) -> DataFrame:
        """The rows of ``sql``; with ``hash_column`` and ``partitions`` > 1, read by that many parallel queries,
        each taking the rows whose integer ``hash_column`` modulo ``partitions`` is its own (Glue's
        ``hashexpression`` / ``hashpartitions``)."""
        # The fetch size is set twice, because Glue documents no fetch size for postgresql. The driver (pgjdbc
        # 42.7.3, PgStatement.executeInternal) fetches in batches only with a positive statement fetch size and
        # autocommit off; otherwise it holds the whole result in memory.
        # - `fetchsize` is Spark's JDBC option, not Glue's: Glue's JDBC page (aws-glue-programming-etl-connect-
        #   jdbc-home.html) passes other options to the Spark data source for redshift only (older versions of
        #   the page said so for every JDBC type). Spark 3.5's reader, which Glue 5 runs and the emulation uses,
        #   turns autocommit off only when it is positive (PostgresDialect.beforeFetch) and always sets the
        #   statement's fetch size from it, 0 when absent (JDBCRDD.compute).
        # - `defaultRowFetchSize` rides in the URL, a Glue option, so it reaches the driver whatever Glue does
        #   with unknown options: the fetch size of every statement no reader sets one for (the PgStatement
        #   constructor). On its own it does not make Spark's reader fetch in batches.
        # tests/ingest/test_source_reader.py measures both through the emulated GlueContext and the driver.
        options = {
            "url": self.jdbc_url,
            "user": self.credentials.username,
            "password": self.credentials.password,
            "dbtable": dbtable,
            "sampleQuery": sql,
            "fetchsize": str(self.fetch_size),
        }
        if hash_column and partitions > 1:
            # Glue appends each partition's predicate to the sampleQuery, which must therefore end with AND.
            options.update({"sampleQuery": f"{sql} AND", "enablePartitioningForSampleQuery": "true",
                            "hashexpression": f'"{hash_column}"', "hashpartitions": str(partitions)})
        try:
            frame = self.glue_context.create_dynamic_frame.from_options(
                connection_type="postgresql", connection_options=options
            )
            return frame.toDF()
        except Exception as error:  # noqa: BLE001 - re-raised with a clear, password-free message
            raise self._unavailable(error) from None

    def _unavailable(self, error: BaseException) -> SourceUnavailableError:
        cause = scrub(java_root_cause(error), self.credentials.password)
        return SourceUnavailableError(f"cannot read the source database {self.credentials.describe()}: {cause}")

    def catalog_rows(self, sql: str) -> list[dict]:
        """The rows of a small catalog query (the schema check, the clock) over one plain connection.

        Not through Spark: a JDBC read is a Spark job with its own planning and connection, which measured
        1.2-1.4 s each for these one-row answers, a fixed cost on every 15-minute run; this takes milliseconds.
        """
        try:
            with psycopg.connect(**self.credentials.libpq_kwargs(), connect_timeout=CONNECT_TIMEOUT_SECONDS,
                                 application_name="totesys-ingest", row_factory=dict_row) as conn:
                return conn.execute(sql).fetchall()
        except psycopg.Error as error:
            cause = scrub(" ".join(str(error).split()), self.credentials.password)
            raise SourceUnavailableError(
                f"cannot read the source database {self.credentials.describe()}: {cause}") from None

    def clock(self) -> SourceClock:
        """The database clock and the oldest open transaction; refuses a reader that cannot see other sessions,
        whose bound would ignore their open transactions."""
        row = self.catalog_rows(CLOCK_QUERY)[0]
        if not row["sees_other_sessions"]:
            raise SourceGrantError(blind_bound_message(self.credentials.username))
        return SourceClock(now=row["db_now"], oldest_open_transaction_start=row["oldest_open_transaction_start"])

    def observed_columns(self, tables: list[SourceTable]) -> list[ObservedColumn]:
        return [ObservedColumn(**row) for row in self.catalog_rows(columns_query(tables))]

    def windows_with_rows(self, windows: dict[SourceTable, ReadWindow],
                          excluded: dict[SourceTable, list[Version]] | None = None) -> set[str]:
        """The names of the tables whose window holds any row but their ``excluded`` versions, asked in one query
        over one connection."""
        if not windows:
            return set()
        return {row["table_name"] for row in self.catalog_rows(windows_with_rows_query(windows, excluded))}


def write_table(spark: SparkSession, reader: SourceReader, zone: ZoneStore, table: SourceTable,
                rows_df: DataFrame, prefix: str):
    """Write a table's rows; the source is read lazily right here, so its failures surface here too.

    A Spark failure is re-raised as what it is: the source gone (a restart, a dropped connection) or the
    zone refusing the write (no space, no permission), naming the table, not as a 13 kB Py4J trace.
    """
    try:
        return write_parquet(spark, rows_df, zone, prefix)
    except Exception as error:  # noqa: BLE001 - re-raised with what failed
        if not is_java_error(error):
            raise
        cause = scrub(java_root_cause(error), reader.credentials.password)
        # The driver's exception anywhere in the chain: a restart refusing a new connection ends in a
        # java.net.ConnectException beneath the PSQLException, and is the source's failure all the same.
        if any("PSQLException" in message or "SQLException" in message for message in java_messages(error)):
            raise SourceUnavailableError(f"lost the source database {reader.credentials.describe()} "
                                         f"while reading {table.name}: {cause}") from None
        raise ZoneWriteError(f"cannot write {table.name} to {zone.uri_of(prefix)}: {cause}") from None


def check_types(table: SourceTable, source_df: DataFrame) -> None:
    """Refuse a read whose Spark types differ from the ingestion contract (a column retyped in the source)."""
    expected = {field.name: field.dataType for field in expected_spark_schema(table).fields}
    actual = {field.name: field.dataType for field in source_df.schema.fields}
    problems = [
        f"{table.name}.{name} reads as {actual.get(name)}, expected {data_type}"
        for name, data_type in expected.items()
        if actual.get(name) != data_type
    ]
    if problems:
        raise SchemaDriftError("source types changed: " + "; ".join(problems))


@dataclass
class TableResult:
    table: str
    window: ReadWindow
    rows: int = 0
    files: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def status(self) -> str:
        return "written" if self.rows else "unchanged"


@dataclass
class IngestionResult:
    run_id: str
    manifest_key: str
    tables: list[TableResult]
    upper_bound_note: str | None = None

    @property
    def total_rows(self) -> int:
        return sum(result.rows for result in self.tables)


class IngestionRun:
    """Reads every table's window, writes new versions, then commits the manifest and stages the bookmark."""

    def __init__(
        self,
        spark: SparkSession,
        reader: SourceReader,
        zone: ZoneStore,
        bookmark: JobBookmark,
        run_id: str,
        tables: list[SourceTable],
        policy: WindowPolicy,
        glue_job_run_id: str | None = None,
    ):
        self.spark = spark
        self.reader = reader
        self.zone = zone
        self.bookmark = bookmark
        self.run_id = run_id
        self.tables = tables
        self.policy = policy
        self.glue_job_run_id = glue_job_run_id
        self.read_partitions = max(1, spark.sparkContext.defaultParallelism)

    def run(self) -> IngestionResult:
        started_at = dt.datetime.now(dt.timezone.utc)
        check_source_schema(self.tables, self.reader.observed_columns(self.tables))
        clock = self.reader.clock()
        run_upper_bound, waited_too_long = upper_bound(clock, self.policy)
        note = None
        if waited_too_long:
            note = (
                f"a source transaction open since {format_timestamp(clock.oldest_open_transaction_start)} is older "
                f"than max_transaction_wait; its rows are caught by the overlap if it commits within "
                f"{self.policy.overlap}"
            )
            log_event(logger, "old open transaction not waited for", logging.WARNING, detail=note)
        log_event(logger, "run started", run_id=self.run_id, db_now=format_timestamp(clock.now),
                  upper_bound=format_timestamp(run_upper_bound), tables=len(self.tables))
        ingest_date = started_at.strftime("%Y-%m-%d")
        self._uncommitted_outputs = self._outputs_of_runs_after_bookmark()
        windows = {table: next_window(parse_timestamp((self.bookmark.state(transformation_ctx(table)) or {})
                                                      .get("to_inclusive")), run_upper_bound, self.policy)
                   for table in self.tables}
        # Most tables change rarely: a delta window without a single row is known from the source's index in
        # milliseconds, where reading it through Spark costs a query plan, a JDBC read and a write (a fixed
        # cost of ~0.3-1 s per table on every 15-minute run). Rows under the bound are committed (window.py),
        # so what the read would have found a moment later is what the probe finds now; rows that commit under
        # the bound later anyway (a writer whose clock lags) are the next run's overlap to catch, as after a read.
        # Except with a transaction open longer than max_transaction_wait, whose stamps lie beyond the overlap:
        # then every table is read, as close to its commit as possible.
        delta_windows = {table: window for table, window in windows.items() if not window.is_full}
        self._recent_outputs = {table.name: self._recent_outputs_of(table) for table in self.tables}
        self._excluded = {table: excluded for table, window in delta_windows.items()
                          if (excluded := self._ingested_versions_in_overlap(table, window)) is not None}
        self._windows_with_rows = ({table.name for table in delta_windows} if waited_too_long
                                   else self.reader.windows_with_rows(delta_windows, self._excluded))
        results = self._ingest_tables(windows, ingest_date)
        manifest = RunManifest(
            job_name=self.bookmark.job_name,
            run_id=self.run_id,
            started_at=started_at.isoformat(),
            finished_at=dt.datetime.now(dt.timezone.utc).isoformat(),
            bookmark_option=self.bookmark.option,
            glue_job_run_id=self.glue_job_run_id,
            tables={
                result.table: TableOutput(
                    table=result.table,
                    rows=result.rows,
                    files=result.files,
                    window=result.window.to_dict(),
                    details={"status": result.status, "seconds": result.seconds},
                )
                for result in results
            },
        )
        manifest_key = write_manifest(self.zone, manifest)
        log_event(logger, "manifest written", manifest=manifest_key, rows=sum(r.rows for r in results))
        return IngestionResult(self.run_id, manifest_key, results, note)

    def _ingest_tables(self, windows: dict[SourceTable, ReadWindow], ingest_date: str) -> list[TableResult]:
        """Every table's window, several tables at a time, results in table order.

        The tables are independent (one shared upper bound, one bookmark entry each, staged only), so a few
        reads in flight keep both the cores and the round trips of each read (query planning, file commit,
        listing) busy at once. The threads inherit the Spark job group, so a runner that cancels the job's
        group cancels these reads too.
        """
        return in_parallel(lambda table: self._ingest_table(table, windows[table], ingest_date), self.tables,
                           INGEST_CONCURRENT_TABLES, "ingest")

    def _ingest_table(self, table: SourceTable, window: ReadWindow, ingest_date: str) -> TableResult:
        started = time.monotonic()
        ctx = transformation_ctx(table)
        recent_outputs = self._recent_outputs[table.name]
        excluded = self._excluded.get(table)
        read = window.is_full or table.name in self._windows_with_rows
        rows, files = 0, []
        if read:
            # A full read is a whole table: one query per core instead of one stream on one core. A delta reads
            # few rows through the last_updated index and stays one query, one file.
            partitions = self.read_partitions if window.is_full else 1
            source_df = self.reader.query(window_query(table, window, excluded or ()), table.name,
                                          table.primary_key, partitions)
            check_types(table, source_df)
            new_versions_df = source_df
            if recent_outputs and excluded is None:
                new_versions_df = self._drop_already_ingested(table, source_df, window, recent_outputs).coalesce(1)
            prefix = f"{table.name}/ingest_date={ingest_date}/run_id={self.run_id}"
            # Counted from the parquet footers just written: no second read of the source.
            written = write_table(self.spark, self.reader, self.zone, table, new_versions_df, prefix)
            rows, files = written.rows, written.files
        result = TableResult(table.name, window, rows=rows, files=files)
        result.seconds = round(time.monotonic() - started, 3)
        self.bookmark.stage(ctx, self._next_state(window, recent_outputs, files))
        log_event(logger, "table ingested", table=table.name, rows=rows, status=result.status,
                  window=window.to_dict(), files=len(files), seconds=result.seconds,
                  **({} if read else {"read": "skipped, no row in the window"}))
        return result

    def _recent_outputs_of(self, table: SourceTable) -> list[dict]:
        """The outputs of earlier runs that a window of this run may overlap: the bookmark's and those of runs
        that committed only their manifest."""
        state = self.bookmark.state(transformation_ctx(table)) or {}
        return state.get("recent_outputs", []) + self._uncommitted_outputs.get(table.name, [])

    def _overlapping_files(self, window: ReadWindow, recent_outputs: list[dict]) -> list[str]:
        return [
            self.zone.uri_of(key)
            for output in recent_outputs
            if window.is_full or parse_timestamp(output["to_inclusive"]) > window.from_exclusive
            for key in output["files"]
        ]

    def _ingested_versions_in_overlap(self, table: SourceTable, window: ReadWindow) -> list[Version] | None:
        """The versions in a delta window that earlier runs already wrote, when there are few enough to leave out
        in the query (MAX_VERSIONS_EXCLUDED_IN_QUERY); None when there are more."""
        files = self._overlapping_files(window, self._recent_outputs[table.name])
        try:
            return rows_stamped_after(files, (table.primary_key, "last_updated"), "last_updated",
                                      window.from_exclusive, MAX_VERSIONS_EXCLUDED_IN_QUERY)
        except ParquetReadError as error:
            raise ZoneReadError(f"cannot read what earlier runs wrote of {table.name} (the overlap is checked "
                                f"against it): {error}") from None

    def _drop_already_ingested(self, table: SourceTable, source_df: DataFrame, window: ReadWindow,
                               recent_outputs: list[dict]) -> DataFrame:
        """Drop versions (primary key, last_updated) of the overlap that earlier runs already wrote."""
        overlapping_files = self._overlapping_files(window, recent_outputs)
        if not overlapping_files:
            return source_df
        keys = [table.primary_key, "last_updated"]
        ingested_df = self.spark.read.schema(expected_spark_schema(table)).parquet(*overlapping_files)
        if not window.is_full:
            ingested_df = ingested_df.where(F.col("last_updated") > F.lit(window.from_exclusive))
        ingested_df = ingested_df.select(*keys)
        return source_df.join(ingested_df, on=keys, how="left_anti").select(*table.column_names)

    def _outputs_of_runs_after_bookmark(self) -> dict[str, list[dict]]:
        """Outputs of runs that committed a manifest but not the bookmark (killed in between), per table.

        Their files are visible downstream, so this run must treat their rows as already ingested, or the
        re-read of their window would ingest those versions a second time. Only ``job-bookmark-enable`` does
        this: ``disable`` and ``pause`` re-process by definition (Glue's semantics), and downstream jobs are
        idempotent on (primary key, last_updated).
        """
        if self.bookmark.option != ENABLE:
            return {}
        outputs: dict[str, list[dict]] = {}
        for manifest in list_manifests(self.zone, self.bookmark.job_name, self.bookmark.last_accounted_run_id):
            for name, output in manifest.tables.items():
                if output.files:
                    outputs.setdefault(name, []).append({
                        "run_id": manifest.run_id,
                        "to_inclusive": output.window["to_inclusive"],
                        "files": output.files,
                    })
        if outputs:
            log_event(logger, "runs after the bookmark found; their rows count as ingested", logging.WARNING,
                      tables=sorted(outputs))
        return outputs

    def _next_state(self, window: ReadWindow, recent_outputs: list[dict], files: list[str]) -> dict:
        """The table's bookmark after this run: the new upper bound and the outputs the next overlap may hit."""
        next_lower_bound = window.to_inclusive - self.policy.overlap
        kept = [o for o in recent_outputs if parse_timestamp(o["to_inclusive"]) > next_lower_bound]
        if files:
            kept.append({"run_id": self.run_id, "to_inclusive": format_timestamp(window.to_inclusive), "files": files})
        return {"to_inclusive": format_timestamp(window.to_inclusive), "recent_outputs": kept}
