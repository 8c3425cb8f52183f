"""One transformation run: the ingestion runs not yet processed → the star schema in the processed zone.

The processed zone is a set of Apache Iceberg tables in one catalog namespace (README, "The processed zone";
:mod:`totes.iceberg`): the facts (partitioned by the month their rows were created in), the dimensions, the
deletion table, the quarantine of each fact source table, and the current state of each lookup source table
(``current_<table>``, kept with MERGE, internal to this job). Beside them, in the zone's folders:

    <zone>/_manifests/totesys-transform/<run id>.json    the commit record of a run: every table's snapshot id
    <zone>/_state/bookmarks/totesys-transform.json       the job bookmark

Each table commits on its own, carrying the run id and the last input run in its snapshot summary; the manifest,
written last, names the snapshot of every table the run leaves, which is what the load reads up to. A run killed
between two table commits is completed by the next run from the same inputs: a table whose current snapshot
already covers them is not written again, and every write is a MERGE on the table's natural key, so nothing is
ever there twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import asdict, dataclass
from functools import reduce

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from totes import spark_threads
from totes.bookmarks import ENABLE, JobBookmark
from totes.iceberg import (ProcessedCatalog, Snapshot, commits_tagged, create_table, current_snapshot, merge_into,
                           read_table, replace_rows, same_row)
from totes.logs import log_event
from totes.manifests import RunManifest, TableOutput, list_manifests, write_manifest
from totes.parquet_io import run_id_of_input_file
from totes.spark_errors import file_failure, is_java_error, names_a_file
from totes.star import AUDIT_TABLES, DIMENSIONS, FACTS, SOURCE_DELETION, WAREHOUSE_TABLES, star_table
from totes.tables import DELETION_SCHEMA, expected_spark_schema, source_table
from totes.transform import dimensions as dims
from totes.transform.contracts import (
    InputReadError,
    TableCommitError,
    MandatoryDimensionEmptyError,
    check_input_schema,
    latest_versions,
    one_row_per_version,
    require_no_blanks,
    require_resolved,
)
from totes.transform.facts import FACT_BUILDERS, FACT_PARTITION_SPEC, date_bounds
from totes.transform.quality import (
    FACT_PARENTS,
    FACT_SOURCE_TABLES,
    QUARANTINE_REASON,
    QUARANTINE_RULE,
    filter_passed,
    filter_quarantined,
    judged_quality,
    table_rules,
    with_quality_verdicts,
)
from totes.transform.quality_report import QUALITY_DETAILS, all_passed
from totes.transform.staging import stage, time_of_day, unstage
from totes.zones import ZoneStore

logger = logging.getLogger("totes.transform")

BOOKMARK_CTX = "ingestion_zone"
# Of two copies of a row, the later is the source's: the ingestion run id orders them (run ids sort by time).
INGESTED_IN = "_ingested_in"
NEWER = "_newer"
# Source tables whose full current state the dimensions and the quality rules need.
LOOKUP_TABLES = ("address", "counterparty", "currency", "department", "design", "payment_type", "staff",
                 "transaction")
# Without rows in these, no fact can pass the rules: an empty one is a systemic problem, not a row problem.
MANDATORY_TABLES = ("address", "counterparty", "currency", "design", "payment_type", "staff", "department")
# The snapshot summary key naming the last ingestion run a commit's rows include.
INPUT_THROUGH_PROPERTY = "totes.input-through"


def current_state_table(source: str) -> str:
    """The Iceberg table holding the current row of every key of a lookup source table."""
    return f"current_{source}"


def quarantine_table(fact_source: str) -> str:
    return f"quarantine_{fact_source}"


@dataclass
class TransformState:
    """What the job's bookmark holds: how far the input was processed, and the calendar dim_date covers."""

    last_input_run_id: str | None = None
    date_range: list[str] | None = None  # [first, last] ISO dates dim_date covers

    @classmethod
    def from_dict(cls, data: dict | None) -> "TransformState":
        data = data or {}
        return cls(last_input_run_id=data.get("last_input_run_id"), date_range=data.get("date_range"))


@dataclass
class TransformResult:
    run_id: str
    manifest_key: str
    inputs: list[str]
    tables: dict[str, TableOutput]

    @property
    def quarantined(self) -> int:
        return sum(output.details.get("quarantined", 0) for output in self.tables.values())


# A fact batch of up to this many rows (a delta) checks its foreign keys against a big parent only where it
# refers to it (quality.with_quality_verdicts): broadcasting this many keys is cheap, shuffling the 1.7 million
# transaction keys of scale 100 on every run is not.
SMALL_BATCH_ROWS = 100_000
BIG_PARENT_ROWS = 100_000

# Outputs written at the same time: each small write is mostly driver round trips (planning, commit, footers),
# which overlap well; the big ones share the cores either way.
PARALLEL_WRITES = 4


def in_parallel(function, items) -> list:
    """``[function(item) for item in items]``, a few writes at a time (:func:`totes.spark_threads.in_parallel`)."""
    return spark_threads.in_parallel(function, items, PARALLEL_WRITES, "transform")


class TransformRun:
    def __init__(self, spark: SparkSession, ingestion_zone: ZoneStore, processed_zone: ZoneStore,
                 catalog: ProcessedCatalog, bookmark: JobBookmark, run_id: str, ingest_job_name: str,
                 glue_job_run_id: str | None = None):
        self.spark = spark
        self.ingestion_zone = ingestion_zone
        self.zone = processed_zone
        self.catalog = catalog
        self.bookmark = bookmark
        self.run_id = run_id
        self.ingest_job_name = ingest_job_name
        self.glue_job_run_id = glue_job_run_id
        self._input_through: str | None = None  # the last ingestion run of this run's inputs
        self._batch_runs: dict[str, int] = {}  # source table -> how many input runs hold rows of it
        self._batch_rows: dict[str, int] = {}  # source table -> rows of it in the input runs (from the manifests)
        self._current_rows: dict[str, int] = {}  # lookup table -> rows of its current state
        self._corrects_versions: dict[str, bool] = {}  # fact source table -> a reconciliation re-ingested rows

    # -- state -----------------------------------------------------------------------------------------------
    def starting_state(self) -> TransformState:
        """The committed state; or, with enable, the state of a later run that committed only its manifest."""
        state = TransformState.from_dict(self.bookmark.state(BOOKMARK_CTX))
        if self.bookmark.option != ENABLE:
            return state
        later = [m for m in list_manifests(self.zone, self.bookmark.job_name, self.bookmark.last_accounted_run_id)
                 if m.bookmark_option == ENABLE and m.state is not None]
        if later:
            log_event(logger, "a run committed its manifest but not its bookmark; continuing from it",
                      logging.WARNING, manifest_run_id=later[-1].run_id)
            return TransformState.from_dict(later[-1].state)
        return state

    # -- tables ----------------------------------------------------------------------------------------------
    def _table(self, name: str) -> str:
        return self.catalog.table(name)

    def _covers_inputs(self, name: str) -> Snapshot | None:
        """The table's snapshot if a run (this one's predecessor, killed before its manifest) already committed
        this run's inputs to it; then it is not written again."""
        snapshot = current_snapshot(self.spark, self._table(name))
        if snapshot is not None and snapshot.summary.get(INPUT_THROUGH_PROPERTY) == self._input_through:
            return snapshot
        return None

    def _merge(self, name: str, source_df: DataFrame, keys, update_when: str | None = None) -> Snapshot | None:
        """MERGE into a table (:func:`totes.iceberg.merge_into`); into one never written, a plain append."""
        table = self._table(name)

        def commit():
            if current_snapshot(self.spark, table) is None:
                source_df.writeTo(table).append()
                return current_snapshot(self.spark, table)
            return merge_into(self.spark, table, source_df, keys, update_when)

        return self._committed(name, commit)

    def _replace(self, name: str, rows_df: DataFrame) -> Snapshot | None:
        return self._committed(name, lambda: replace_rows(self.spark, self._table(name), rows_df))

    def _committed(self, name: str, commit) -> Snapshot | None:
        """Run one table's commit tagged with the run; a failure names the table, which stays at its snapshot."""
        before = current_snapshot(self.spark, self._table(name))
        try:
            with commits_tagged(self.spark, self.run_id, {INPUT_THROUGH_PROPERTY: self._input_through}):
                return commit()
        except Exception as error:
            if not is_java_error(error) or names_a_file(file_failure(error)):
                raise  # a bad input file is the input's problem (run() names it), not the commit's
            raise TableCommitError(
                f"the commit to {name} failed, the table stays at snapshot "
                f"{before.snapshot_id if before else '(none)'}: {' '.join(file_failure(error).split())[:500]}"
            ) from None

    def _ensure_tables(self) -> None:
        """Every table of the processed zone exists (created empty the first time), so readers always find it."""
        definitions = [(current_state_table(name), expected_spark_schema(source_table(name)), None)
                       for name in LOOKUP_TABLES]
        definitions += [(quarantine_table(name), self._quarantine_schema(name), None) for name in FACT_SOURCE_TABLES]
        definitions += [(table.name, table.spark_schema, FACT_PARTITION_SPEC if table.is_fact else None)
                        for table in WAREHOUSE_TABLES]
        in_parallel(lambda d: create_table(self.spark, self.catalog, *d), definitions)

    @staticmethod
    def _quarantine_schema(fact_source: str):
        from pyspark.sql import types as T

        schema = expected_spark_schema(source_table(fact_source))
        return T.StructType([*schema.fields, T.StructField(QUARANTINE_RULE, T.StringType()),
                             T.StructField(QUARANTINE_REASON, T.StringType())])

    # -- reading ---------------------------------------------------------------------------------------------
    def _read_batch(self, table_name: str, inputs: list[RunManifest]) -> DataFrame | None:
        runs_with_rows = [m for m in inputs if table_name in m.tables and m.tables[table_name].files]
        if not runs_with_rows:
            return None
        self._batch_runs[table_name] = len(runs_with_rows)
        self._batch_rows[table_name] = sum(manifest.tables[table_name].rows for manifest in runs_with_rows)
        files = [key for manifest in runs_with_rows for key in manifest.tables[table_name].files]
        table = source_table(table_name)
        check_input_schema(table, files, self.ingestion_zone.uri_of)
        batch_df = self.spark.read.schema(expected_spark_schema(table)).parquet(
            *(self.ingestion_zone.uri_of(key) for key in files))
        # One ingestion run holds each version once (a SELECT of a table with a primary key); only several
        # runs can repeat a version: after a reset, with the bookmark disabled, or a reconciliation that
        # re-ingested a row edited without a new last_updated. The copy of the latest run is the source's.
        if len(runs_with_rows) > 1:
            batch_df = (batch_df.withColumn(INGESTED_IN, run_id_of_input_file())
                        .transform(one_row_per_version(table, newer_first=INGESTED_IN)))
        return batch_df

    def _reconciled(self, table_name: str, inputs: list[RunManifest]) -> bool:
        """Whether a reconciliation among the inputs re-ingested rows of the table (versions may be corrected)."""
        return any(table_name in m.tables and m.tables[table_name].files
                   and m.tables[table_name].details.get("mode") == "reconcile" for m in inputs)

    # -- the run ---------------------------------------------------------------------------------------------
    def run(self) -> TransformResult:
        try:
            return self._run()
        except Exception as error:
            # Spark reads lazily: a corrupt input file fails a later write, as a Py4J error whose message is
            # only "An error occurred while calling o123.parquet". Name the file instead.
            if is_java_error(error) and names_a_file(file_failure(error)):
                raise InputReadError(f"a file of the batch cannot be read: {file_failure(error)}") from None
            raise

    def _run(self) -> TransformResult:
        started_at = dt.datetime.now(dt.timezone.utc)
        state = self.starting_state()
        inputs = list_manifests(self.ingestion_zone, self.ingest_job_name, state.last_input_run_id)
        log_event(logger, "run started", run_id=self.run_id, inputs=len(inputs),
                  after_input_run_id=state.last_input_run_id)
        self._ensure_tables()
        outputs: dict[str, TableOutput] = {}
        if inputs:
            self._input_through = inputs[-1].run_id
            # Opening a parquet input is a driver round trip (listing, footers): the tables open side by side.
            names = LOOKUP_TABLES + FACT_SOURCE_TABLES
            batches = dict(zip(names, in_parallel(lambda name: self._read_batch(name, inputs), names)))
            self._corrects_versions = {name: self._reconciled(name, inputs) for name in FACT_SOURCE_TABLES}
            changed = self._update_current_state(batches)
            current = dict(zip(LOOKUP_TABLES, in_parallel(self._current_state, LOOKUP_TABLES)))
            self._check_mandatory(current)
            current = {name: df.transform(stage(source_table(name))) for name, df in current.items()}
            currency_df = current["currency"].transform(dims.with_currency_names(dims.iso_4217_currencies(self.spark)))
            for fact_outputs in in_parallel(
                    lambda fact_source: self._facts(fact_source, batches[fact_source], current, currency_df),
                    FACT_SOURCE_TABLES):
                outputs.update(fact_outputs)
            outputs.update(self._dimensions(changed, current, currency_df, batches))
            date_output = self._dim_date(state, outputs)
            if date_output:
                outputs["dim_date"] = date_output
            deletions = self._source_deletions(inputs)
            if deletions:
                outputs[SOURCE_DELETION.name] = deletions
            state.last_input_run_id = inputs[-1].run_id
        ordered = {}
        for table in DIMENSIONS + FACTS + AUDIT_TABLES:
            output = outputs.get(table.name) or TableOutput(table.name, 0, details={"status": "unchanged"})
            snapshot = current_snapshot(self.spark, self._table(table.name))
            output.details["snapshot_id"] = snapshot.snapshot_id if snapshot else None
            ordered[table.name] = output
        manifest = RunManifest(
            job_name=self.bookmark.job_name, run_id=self.run_id, started_at=started_at.isoformat(),
            finished_at=dt.datetime.now(dt.timezone.utc).isoformat(), bookmark_option=self.bookmark.option,
            glue_job_run_id=self.glue_job_run_id, tables=ordered, inputs=[m.run_id for m in inputs],
            state=asdict(state),
        )
        manifest_key = write_manifest(self.zone, manifest)
        self.bookmark.stage(BOOKMARK_CTX, asdict(state))
        log_event(logger, "manifest written", manifest=manifest_key, inputs=len(inputs),
                  rows=sum(o.rows for name, o in ordered.items() if name.startswith("fact_")))
        return TransformResult(self.run_id, manifest_key, manifest.inputs, ordered)

    # -- current state of the lookup tables ------------------------------------------------------------------
    def _current_state(self, name: str) -> DataFrame:
        table = source_table(name)
        current_df = read_table(self.spark, self._table(current_state_table(name)), expected_spark_schema(table))
        snapshot = current_snapshot(self.spark, self._table(current_state_table(name)))
        self._current_rows[name] = snapshot.count("total-records") if snapshot else 0
        return current_df

    def _update_current_state(self, batches: dict[str, DataFrame | None]) -> set[str]:
        """MERGE each touched lookup table's batch into its current state; returns the names of those tables.

        The latest version of a key wins; of two copies of one version, the batch's (a reconciliation's
        correction of a row edited without a new last_updated). A key the batch does not touch is never read
        into a rewritten file: copy-on-write rewrites only the files holding a matched key.
        """
        def update(name: str) -> None:
            table = source_table(name)
            if self._covers_inputs(current_state_table(name)):
                return
            batch_df = batches[name]
            if self._batch_runs[name] > 1:
                batch_df = batch_df.transform(latest_versions(table))
            newer = (f"s.last_updated > t.last_updated OR (s.last_updated = t.last_updated "
                     f"AND NOT ({same_row(table.column_names)}))")
            self._merge(current_state_table(name), batch_df, [table.primary_key], update_when=newer)

        changed = [name for name in LOOKUP_TABLES if batches[name] is not None]
        in_parallel(update, changed)
        return set(changed)

    def _check_mandatory(self, current: dict[str, DataFrame]) -> None:
        empty = [name for name in MANDATORY_TABLES if self._current_rows.get(name, 0) == 0]
        if empty:
            raise MandatoryDimensionEmptyError(
                f"no rows have ever been ingested for {', '.join(empty)}; every fact depends on them "
                "(was the ingestion run with --tables, or is the source empty?)")

    def _report_unknown_currencies(self, currency_df: DataFrame) -> list[str]:
        unknown = [row.currency_code for row in currency_df.where(~F.col("currency_known"))
                   .select("currency_code").collect()]
        if unknown:
            log_event(logger, "currency codes unknown to ISO 4217: names left empty, their facts quarantined",
                      logging.WARNING, currency_codes=unknown)
        return unknown

    # -- facts -----------------------------------------------------------------------------------------------
    def _facts(self, fact_source: str, batch_df: DataFrame | None, current: dict[str, DataFrame],
               currency_df: DataFrame) -> dict[str, TableOutput]:
        started = time.monotonic()
        fact, build = FACT_BUILDERS[fact_source]
        table = source_table(fact_source)
        held_df = read_table(self.spark, self._table(quarantine_table(fact_source)),
                             self._quarantine_schema(fact_source))
        pending_df = held_df.select(*table.column_names)
        pending_snapshot = current_snapshot(self.spark, self._table(quarantine_table(fact_source)))
        pending_rows = pending_snapshot.count("total-records") if pending_snapshot else 0
        if batch_df is None and pending_rows == 0:
            return {}
        if batch_df is not None and pending_rows:
            # A held-back version may have been ingested again since (corrected by a reconciliation).
            candidates_df = (batch_df.withColumn(NEWER, F.lit(1)).unionByName(pending_df.withColumn(NEWER, F.lit(0)))
                             .transform(one_row_per_version(table, newer_first=NEWER)))
        else:
            candidates_df = batch_df if batch_df is not None else pending_df
        parent_keys = {parent: current[parent].select(f"{parent}_id")
                       for _, parent in FACT_PARENTS[fact_source] if parent != "currency"}
        judged_df = (candidates_df.transform(stage(table))
                     .transform(with_quality_verdicts(fact_source, parent_keys, currency_df,
                                                      self._parents_to_narrow(fact_source, pending_rows)))
                     .cache())
        try:
            fact_df = judged_df.transform(filter_passed).transform(build)
            passed, first_date, last_date = date_bounds(fact_df, fact)
            inserted = rewritten = 0
            if passed and not self._covers_inputs(fact.name):
                # A version is there once: a rerun inserts nothing new, and a reconciliation's corrected copy of
                # a version replaces it in place (its natural key kept).
                update_when = f"NOT ({same_row(fact.column_names)})" if self._corrects_versions.get(fact_source) \
                    else None
                before = current_snapshot(self.spark, self._table(fact.name))
                after = self._merge(fact.name, fact_df, fact.natural_key, update_when)
                inserted, rewritten = _inserted_and_rewritten(before, after)
            if pending_rows == 0 and self._batch_runs.get(fact_source) == 1 \
                    and passed == self._batch_rows[fact_source]:
                # Every candidate became a fact row: nothing to quarantine, no job to find that out. Equal counts
                # mean exactly that because a fact is a select of the passed rows, the verdicts' left joins meet
                # at most one parent row per key (current states hold one row per key), and one ingestion run
                # holds each version once.
                quality = all_passed(table_rules(fact_source), passed)
            else:
                quality = judged_quality(fact_source, judged_df, held_df.select(
                    table.primary_key, "last_updated", QUARANTINE_RULE) if pending_rows else None)
            if (quality.quarantined or pending_rows) and not self._covers_inputs(quarantine_table(fact_source)):
                quarantine_df = judged_df.transform(filter_quarantined).transform(
                    unstage(table, keep=(QUARANTINE_RULE, QUARANTINE_REASON)))
                self._replace(quarantine_table(fact_source), quarantine_df.coalesce(1))
        finally:
            judged_df.unpersist()
        quarantined, released, rules = quality.quarantined, quality.released, quality.quarantined_by_rule
        if quarantined:
            log_event(logger, "rows quarantined", logging.WARNING, table=fact.name, rows=quarantined,
                      rules=rules, quarantine=quarantine_table(fact_source))
        seconds = round(time.monotonic() - started, 3)
        status = "written" if inserted or rewritten else "unchanged"
        log_event(logger, "fact built", table=fact.name, rows=inserted, rewritten=rewritten, status=status,
                  quarantined=quarantined, released=released, seconds=seconds)
        details = {"status": status, "inserted": inserted, "rewritten": rewritten, "quarantined": quarantined,
                   "released": released, "quarantine_rules": rules,
                   "first_date": first_date and first_date.isoformat(),
                   "last_date": last_date and last_date.isoformat(), "seconds": seconds,
                   "corrects_versions": self._corrects_versions.get(fact_source, False),
                   QUALITY_DETAILS: quality.as_dict()}
        return {fact.name: TableOutput(fact.name, inserted, details=details)}

    def _parents_to_narrow(self, fact_source: str, pending_rows: int) -> frozenset[str]:
        """The big parents a small batch checks its foreign keys against only where it refers to them."""
        candidate_rows = self._batch_rows.get(fact_source, 0) + pending_rows
        if candidate_rows > SMALL_BATCH_ROWS:
            return frozenset()
        return frozenset(parent for _, parent in FACT_PARENTS[fact_source] if parent != "currency"
                         and self._current_rows.get(parent, 0) >= BIG_PARENT_ROWS)

    # -- dimensions ------------------------------------------------------------------------------------------
    def _dimensions(self, changed: set[str], current: dict[str, DataFrame], currency_df: DataFrame,
                    batches: dict[str, DataFrame | None]) -> dict[str, TableOutput]:
        builders = {
            "dim_location": lambda: dims.dim_location(current["address"]),
            "dim_design": lambda: dims.dim_design(current["design"]),
            "dim_payment_type": lambda: dims.dim_payment_type(current["payment_type"]),
            "dim_transaction": lambda: dims.dim_transaction(current["transaction"]),
            "dim_staff": lambda: dims.dim_staff(current["staff"], current["department"]),
            "dim_counterparty": lambda: dims.dim_counterparty(current["counterparty"], current["address"]),
            "dim_currency": lambda: dims.dim_currency(currency_df),
        }

        def write(name: str) -> TableOutput:
            dim = star_table(name)
            dim_df = builders[name]()
            if name == "dim_staff":
                require_resolved(name, dim_df, "staff_id", "department_name", "department")
            if name == "dim_counterparty":
                require_resolved(name, dim_df, "counterparty_id", "counterparty_legal_address_line_1", "address")
            details = {}
            if name == "dim_currency":
                unknown_codes = self._report_unknown_currencies(currency_df)
                details = {"unknown_currency_codes": unknown_codes} if unknown_codes else {}
            inputs = dims.DIMENSION_INPUTS[name]
            if len(inputs) == 1:
                # Only the rows of the keys the batch touched can differ from the table's (a delta touches a few
                # of the 1.7 million dim_transaction rows at scale 100).
                (source,) = inputs
                (key,) = dim.natural_key
                touched_df = batches[source].select(F.col(source_table(source).primary_key).alias(key))
                dim_df = dim_df.join(touched_df, on=key, how="left_semi")
            require_no_blanks(dim, dim_df)
            return self._write_dimension(name, dim_df, details)

        to_write = [name for name in builders if changed.intersection(dims.DIMENSION_INPUTS[name])]
        return dict(zip(to_write, in_parallel(write, to_write)))

    def _write_dimension(self, name: str, dim_df: DataFrame, details: dict) -> TableOutput:
        """Upsert a dimension's rows on its natural key; a row equal to the table's is not rewritten."""
        dim = star_table(name)
        if self._covers_inputs(name):
            return TableOutput(name, 0, details={"status": "unchanged", **details})
        before = current_snapshot(self.spark, self._table(name))
        changed_df = dim_df
        if before is not None:
            existing_df = read_table(self.spark, self._table(name), dim.spark_schema)
            changed_df = dim_df.join(existing_df, how="left_anti",
                                     on=[dim_df[c].eqNullSafe(existing_df[c]) for c in dim.column_names])
        after = self._merge(name, changed_df, dim.natural_key, update_when="true")
        inserted, rewritten = _inserted_and_rewritten(before, after)
        status = "written" if before is None or after.snapshot_id != before.snapshot_id else "unchanged"
        log_event(logger, "dimension built", table=name, status=status, inserted=inserted, rewritten=rewritten)
        return TableOutput(name, inserted, details={"status": status, "inserted": inserted, "rewritten": rewritten,
                                                    **details})

    def _dim_date(self, state: TransformState, fact_outputs: dict[str, TableOutput]) -> TableOutput | None:
        """A gapless calendar of whole years covering every date any fact refers to; extended only when a date
        falls outside the years it covers.

        Whole years because new orders are agreed for later days almost every day: a calendar ending on the last
        date referred to was rewritten (and reloaded) by most 15-minute runs, one of whole years about once a year.
        """
        bounds = [dt.date.fromisoformat(value) for value in state.date_range or []]
        for output in fact_outputs.values():
            bounds += [dt.date.fromisoformat(output.details[end]) for end in ("first_date", "last_date")
                       if output.details.get(end)]
        if not bounds:
            return None
        first_day, last_day = dt.date(min(bounds).year, 1, 1), dt.date(max(bounds).year, 12, 31)
        new_range = [first_day.isoformat(), last_day.isoformat()]
        if new_range == state.date_range:
            return None
        state.date_range = new_range
        calendar_df = dims.dim_date(self.spark, first_day, last_day)
        output = self._write_dimension("dim_date", calendar_df, {})
        output.details.update(first_date=new_range[0], last_date=new_range[1])
        return output

    # -- deletions -------------------------------------------------------------------------------------------
    def _source_deletions(self, inputs: list[RunManifest]) -> TableOutput | None:
        """Source rows reconciliations found deleted, added to the deletion table on their first detection.

        Nothing is removed anywhere (README, "Reconciliation": the delete policy); a row re-detected (a
        reconciliation killed before its bookmark, then run again) keeps its first detection.
        """
        found = [(name, key) for manifest in inputs for name, output in manifest.tables.items()
                 for key in output.details.get("deletion_files", [])]
        if not found or self._covers_inputs(SOURCE_DELETION.name):
            return None
        new_df = reduce(DataFrame.unionByName, [
            self.spark.read.schema(DELETION_SCHEMA).parquet(*(self.ingestion_zone.uri_of(k) for n, k in found if n == name))
            .select(F.lit(name).alias("source_table"), "source_id",
                    F.to_date("last_updated").alias("last_updated_date"),
                    time_of_day(F.col("last_updated")).alias("last_updated_time"),
                    F.to_date("detected_at").alias("detected_date"),
                    time_of_day(F.col("detected_at")).alias("detected_time"))
            for name in dict.fromkeys(n for n, _ in found)])
        first_detection = Window.partitionBy("source_table", "source_id").orderBy("detected_date", "detected_time")
        deletions_df = (new_df.withColumn("_n", F.row_number().over(first_detection)).where(F.col("_n") == 1)
                        .select(*SOURCE_DELETION.column_names))
        before = current_snapshot(self.spark, self._table(SOURCE_DELETION.name))
        after = self._merge(SOURCE_DELETION.name, deletions_df, SOURCE_DELETION.natural_key)
        inserted, _ = _inserted_and_rewritten(before, after)
        log_event(logger, "source deletions recorded", logging.WARNING, rows=inserted,
                  tables=sorted(dict.fromkeys(n for n, _ in found)))
        return TableOutput(SOURCE_DELETION.name, inserted, details={"status": "written", "inserted": inserted})


def _inserted_and_rewritten(before: Snapshot | None, after: Snapshot | None) -> tuple[int, int]:
    """Rows a commit added, and rows of files it rewrote (copy-on-write: the changed rows and their neighbours)."""
    if after is None or (before is not None and after.snapshot_id == before.snapshot_id):
        return 0, 0
    total_before = before.count("total-records") if before else 0
    return after.count("total-records") - total_before, after.count("deleted-records")
