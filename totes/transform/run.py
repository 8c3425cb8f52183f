"""One transformation run: the ingestion runs not yet processed → the star schema in the processed zone.

Layout of the processed zone (README, "The processed zone"):

    <zone>/<fact>/run_id=<run>/created_year=YYYY/created_month=M/part-*.parquet   new fact rows of a run
    <zone>/<dim>/run_id=<run>/part-*.parquet             a complete current snapshot, written when an input changed
    <zone>/quarantine/<source table>/run_id=<run>/part-*.parquet   rows held back, with rule and reason
    <zone>/_manifests/totesys-transform/<run id>.json    the commit record of a run (what the load job reads)
    <zone>/_changes/<dim>/run_id=<run>/part-*.parquet   the rows of a snapshot the run's batch touched (for the load)
    <zone>/_state/current/<source table>/run_id=<run>/   the current state of each lookup table (internal): a
                                                         base snapshot, for big tables plus small layers
    <zone>/_state/bookmarks/totesys-transform.json       the job bookmark

Every output of a run lives under folders named by its run id, so nothing a failed or killed run wrote is ever
referenced: readers take only what a committed manifest lists (the load job) or what the catalog registers
after the run (Athena). The manifest also carries the bookmark state it commits, so a run killed between its
manifest and its bookmark is recognised by the next run and never processed twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import reduce

from pyspark import inheritable_thread_target
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from totes.bookmarks import ENABLE, JobBookmark
from totes.logs import log_event
from totes.manifests import RunManifest, TableOutput, list_manifests, write_manifest
from totes.parquet_io import WrittenOutput, run_id_of_input_file, write_parquet
from totes.spark_frames import empty_frame
from totes.spark_errors import file_failure, is_java_error, names_a_file
from totes.star import AUDIT_TABLES, DIMENSIONS, FACTS, SOURCE_DELETION, star_table
from totes.tables import DELETION_SCHEMA, expected_spark_schema, source_table
from totes.transform import dimensions as dims
from totes.transform.contracts import (
    InputReadError,
    MandatoryDimensionEmptyError,
    check_input_schema,
    latest_versions,
    one_row_per_version,
    overlay_layers,
    require_resolved,
)
from totes.transform.facts import FACT_BUILDERS, FACT_PARTITIONS_BY_ROW, written_date_range
from totes.transform.quality import (
    FACT_PARENTS,
    FACT_SOURCE_TABLES,
    QUARANTINE_REASON,
    QUARANTINE_RULE,
    filter_passed,
    filter_quarantined,
    held_rows_schema,
    judged_quality,
    table_rules,
    with_quality_verdicts,
)
from totes.transform.quality_report import QUALITY_DETAILS, all_passed
from totes.transform.staging import stage, time_of_day, unstage
from totes.zones import ZoneStore

logger = logging.getLogger("totes.transform")

BOOKMARK_CTX = "ingestion_zone"
# Of two copies of a row, the later is the source's: the ingestion run id orders them (run ids sort by time),
# and a batch is newer than the current-state snapshot or the quarantine it is merged with.
INGESTED_IN = "_ingested_in"
NEWER = "_newer"
# Source tables whose full current state the dimensions and the quality rules need.
LOOKUP_TABLES = ("address", "counterparty", "currency", "department", "design", "payment_type", "staff",
                 "transaction")
# Without rows in these, no fact can pass the rules: an empty one is a systemic problem, not a row problem.
MANDATORY_TABLES = ("address", "counterparty", "currency", "design", "payment_type", "staff", "department")


# The current state of a big lookup table is a base snapshot plus layers: a run that touches a few keys of the
# 1.7 million transactions (scale 100) writes the current rows of those keys only (a layer), where rewriting the
# base took 3.7 s of a 9 s small-delta transformation (measured in a warm JVM). Layers are folded into a new
# base once there are MAX_STATE_LAYERS of them or they would hold more than a tenth of the base's rows.
LAYERED_STATE_MIN_ROWS = 100_000
MAX_STATE_LAYERS = 8
MAX_LAYERED_SHARE = 0.1


@dataclass
class TransformState:
    """What the job's bookmark holds: how far the input was processed, and where the current snapshots are."""

    last_input_run_id: str | None = None
    # lookup table -> {"run_id", "rows"} of its base snapshot, and "layers": [{"run_id", "rows"}] written since
    current: dict[str, dict] = field(default_factory=dict)
    pending: dict[str, dict] = field(default_factory=dict)  # fact source table -> {"run_id", "rows"} of quarantine
    dimensions: dict[str, dict] = field(default_factory=dict)  # dim -> {"run_id", "rows", "files"}
    date_range: list[str] | None = None  # [first, last] ISO dates dim_date covers

    @classmethod
    def from_dict(cls, data: dict | None) -> "TransformState":
        return cls(**data) if data else cls()


@dataclass
class TransformResult:
    run_id: str
    manifest_key: str
    inputs: list[str]
    tables: dict[str, TableOutput]

    @property
    def quarantined(self) -> int:
        return sum(output.details.get("quarantined", 0) for output in self.tables.values())


# A fact batch of up to this many rows (a delta) checks its foreign keys against a big parent (as big as a
# layered one) only where it refers to it (quality.with_quality_verdicts): broadcasting this many keys is cheap,
# shuffling the 1.7 million transaction keys of scale 100 on every run is not.
SMALL_BATCH_ROWS = 100_000

# Outputs written at the same time: each small write is mostly driver round trips (planning, file commit,
# footers), which overlap well; the big ones share the cores either way.
PARALLEL_WRITES = 4


def in_parallel(function, items) -> list:
    """``[function(item) for item in items]``, a few at a time, results in order; the first error is raised.

    The threads inherit the Spark job group, so a runner that cancels the job's group cancels their work too.
    """
    items = list(items)
    if len(items) <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=PARALLEL_WRITES, thread_name_prefix="transform") as pool:
        return list(pool.map(inheritable_thread_target(function), items))


def current_prefix(table: str, run_id: str) -> str:
    return f"_state/current/{table}/run_id={run_id}"


def changes_prefix(dimension: str, run_id: str) -> str:
    return f"_changes/{dimension}/run_id={run_id}"


def quarantine_prefix(table: str, run_id: str) -> str:
    return f"quarantine/{table}/run_id={run_id}"


class TransformRun:
    def __init__(self, spark: SparkSession, ingestion_zone: ZoneStore, processed_zone: ZoneStore,
                 bookmark: JobBookmark, run_id: str, ingest_job_name: str, glue_job_run_id: str | None = None):
        self.spark = spark
        self.ingestion_zone = ingestion_zone
        self.zone = processed_zone
        self.bookmark = bookmark
        self.run_id = run_id
        self.ingest_job_name = ingest_job_name
        self.glue_job_run_id = glue_job_run_id
        self._batch_runs: dict[str, int] = {}  # source table -> how many input runs hold rows of it
        self._batch_rows: dict[str, int] = {}  # source table -> rows of it in the input runs (from the manifests)
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

    def _read_snapshot(self, prefix: str, table_name: str) -> DataFrame:
        files = [key for key in self.zone.list_keys(prefix) if key.endswith(".parquet")]
        schema = expected_spark_schema(source_table(table_name))
        if not files:
            return empty_frame(self.spark, schema)
        return self.spark.read.schema(schema).parquet(*(self.zone.uri_of(key) for key in files))

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
        outputs: dict[str, TableOutput] = {}
        if inputs:
            # Opening a parquet input is a driver round trip (listing, footers): the tables open side by side.
            names = LOOKUP_TABLES + FACT_SOURCE_TABLES
            batches = dict(zip(names, in_parallel(lambda name: self._read_batch(name, inputs), names)))
            self._corrects_versions = {name: self._reconciled(name, inputs) for name in FACT_SOURCE_TABLES}
            changed = self._update_current_state(state, batches)
            self._check_mandatory(state)
            current = dict(zip(LOOKUP_TABLES, in_parallel(
                lambda name: self._current_snapshot(state, name).transform(stage(source_table(name))),
                LOOKUP_TABLES)))
            currency_df = current["currency"].transform(dims.with_currency_names(dims.iso_4217_currencies(self.spark)))
            for fact_outputs in in_parallel(
                    lambda fact_source: self._facts(fact_source, batches[fact_source], state, current, currency_df),
                    FACT_SOURCE_TABLES):
                outputs.update(fact_outputs)
            outputs.update(self._dimensions(state, changed, current, currency_df, outputs, batches))
            deletions = self._source_deletions(state, inputs)
            if deletions:
                outputs[SOURCE_DELETION.name] = deletions
            state.last_input_run_id = inputs[-1].run_id
        for dim in DIMENSIONS + AUDIT_TABLES:
            if dim.name not in outputs and dim.name in state.dimensions:
                snapshot = state.dimensions[dim.name]
                outputs[dim.name] = TableOutput(dim.name, snapshot["rows"], snapshot["files"],
                                                details={"status": "unchanged", "snapshot_run_id": snapshot["run_id"]})
        for fact in FACTS:
            outputs.setdefault(fact.name, TableOutput(fact.name, 0, [], details={"status": "unchanged"}))
        ordered = {table.name: outputs[table.name] for table in DIMENSIONS + FACTS + AUDIT_TABLES
                   if table.name in outputs}
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

    def _current_snapshot(self, state: TransformState, name: str) -> DataFrame:
        """The current state of a lookup table; empty when none of its rows was ever ingested."""
        entry = state.current.get(name, {})
        base_df = self._read_snapshot(current_prefix(name, entry.get("run_id", "never")), name)
        layers = entry.get("layers", [])
        if not layers:
            return base_df
        layer_dfs = [self._read_snapshot(current_prefix(name, layer["run_id"]), name) for layer in layers]
        return base_df.transform(overlay_layers(source_table(name), layer_dfs))

    def _layer_fits(self, state: TransformState, name: str) -> bool:
        """Whether this run's rows of a table go into a layer rather than a new base snapshot."""
        entry = state.current.get(name)
        if entry is None or entry["rows"] < LAYERED_STATE_MIN_ROWS:
            return False
        layers = entry.get("layers", [])
        layered_rows = sum(layer["rows"] for layer in layers) + self._batch_rows[name]
        return len(layers) < MAX_STATE_LAYERS and layered_rows <= entry["rows"] * MAX_LAYERED_SHARE

    def _update_current_state(self, state: TransformState, batches: dict[str, DataFrame | None]) -> set[str]:
        """New current state of the lookup tables this batch touched (a base or a layer); returns their names."""
        def update(name: str) -> dict:
            table = source_table(name)
            batch_df = batches[name]
            layer = self._layer_fits(state, name)
            if name in state.current:
                previous_df = self._current_snapshot(state, name)
                if layer:
                    # A layer holds the new current row of every key the batch touched, decided against the whole
                    # current state (a batch row older than the current one loses), so a reader takes a layer's
                    # row as is. The touched keys are few: the base is only scanned, never shuffled or rewritten.
                    touched_df = F.broadcast(batch_df.select(table.primary_key).distinct())
                    previous_df = previous_df.join(touched_df, on=table.primary_key, how="left_semi")
                current_df = (previous_df.withColumn(NEWER, F.lit(0)).unionByName(batch_df.withColumn(NEWER, F.lit(1)))
                              .transform(latest_versions(table, newer_first=NEWER)))
            elif self._batch_runs[name] > 1:
                current_df = batch_df.transform(latest_versions(table))
            else:
                # A single ingestion run holds one version per key: then there is nothing older to drop.
                current_df = batch_df
            rows = write_parquet(self.spark, current_df.coalesce(1), self.zone, current_prefix(name, self.run_id)).rows
            if layer:
                entry = state.current[name]
                return {**entry, "layers": [*entry.get("layers", []), {"run_id": self.run_id, "rows": rows}]}
            return {"run_id": self.run_id, "rows": rows}

        changed = [name for name in LOOKUP_TABLES if batches[name] is not None]
        for name, entry in zip(changed, in_parallel(update, changed)):
            state.current[name] = entry
        return set(changed)

    def _check_mandatory(self, state: TransformState) -> None:
        empty = [name for name in MANDATORY_TABLES if state.current.get(name, {}).get("rows", 0) == 0]
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

    def _facts(self, fact_source: str, batch_df: DataFrame | None, state: TransformState,
               current: dict[str, DataFrame], currency_df: DataFrame) -> dict[str, TableOutput]:
        started = time.monotonic()
        fact, build = FACT_BUILDERS[fact_source]
        table = source_table(fact_source)
        pending = state.pending.get(fact_source)
        pending_df = self._pending_df(fact_source, pending)
        if batch_df is None and pending_df is None:
            return {}
        if batch_df is not None and pending_df is not None:
            # A held-back version may have been ingested again since (corrected by a reconciliation).
            candidates_df = (batch_df.withColumn(NEWER, F.lit(1)).unionByName(pending_df.withColumn(NEWER, F.lit(0)))
                             .transform(one_row_per_version(table, newer_first=NEWER)))
        else:
            candidates_df = batch_df if batch_df is not None else pending_df
        parent_keys = {parent: current[parent].select(f"{parent}_id")
                       for _, parent in FACT_PARENTS[fact_source] if parent != "currency"}
        judged_df = (candidates_df.transform(stage(table))
                     .transform(with_quality_verdicts(fact_source, parent_keys, currency_df,
                                                      self._parents_to_narrow(fact_source, state, pending)))
                     .cache())
        try:
            passed_df = judged_df.transform(filter_passed).transform(build)
            fact_df = passed_df.withColumn("run_id", F.lit(self.run_id)).repartition(*FACT_PARTITIONS_BY_ROW)
            written = write_parquet(self.spark, fact_df, self.zone, f"{fact.name}/run_id={self.run_id}",
                                    partition_by=FACT_PARTITIONS_BY_ROW)
            first_date, last_date = written_date_range([self.zone.uri_of(key) for key in written.files], fact)
            quarantined = WrittenOutput([], 0)
            if pending_df is None and self._batch_runs.get(fact_source) == 1 \
                    and written.rows == self._batch_rows[fact_source]:
                # Every candidate became a fact row: nothing to quarantine, no job to find that out. Equal counts
                # mean exactly that because a fact is a select of the passed rows, the verdicts' left joins meet
                # at most one parent row per key (current states hold one row per key), and one ingestion run
                # holds each version once.
                quality = all_passed(table_rules(fact_source), written.rows)
            else:
                quality = judged_quality(fact_source, judged_df, self._held_rows(fact_source, pending))
                if quality.quarantined:
                    quarantine_df = judged_df.transform(filter_quarantined).transform(
                        unstage(table, keep=(QUARANTINE_RULE, QUARANTINE_REASON)))
                    quarantined = write_parquet(self.spark, quarantine_df.coalesce(1), self.zone,
                                                quarantine_prefix(fact_source, self.run_id))
        finally:
            judged_df.unpersist()
        released, rules = quality.released, quality.quarantined_by_rule
        if quarantined.rows:
            state.pending[fact_source] = {"run_id": self.run_id, "rows": quarantined.rows}
            log_event(logger, "rows quarantined", logging.WARNING, table=fact.name, rows=quarantined.rows,
                      rules=rules, quarantine=quarantine_prefix(fact_source, self.run_id))
        else:
            state.pending.pop(fact_source, None)
        seconds = round(time.monotonic() - started, 3)
        log_event(logger, "fact built", table=fact.name, rows=written.rows, status="written" if written.rows else
                  "unchanged", quarantined=quarantined.rows, released=released, files=len(written.files),
                  seconds=seconds)
        details = {"status": "written" if written.rows else "unchanged", "quarantined": quarantined.rows,
                   "released": released, "quarantine_rules": rules, "quarantine_files": quarantined.files,
                   "first_date": first_date and first_date.isoformat(),
                   "last_date": last_date and last_date.isoformat(), "seconds": seconds,
                   "corrects_versions": self._corrects_versions.get(fact_source, False),
                   QUALITY_DETAILS: quality.as_dict()}
        return {fact.name: TableOutput(fact.name, written.rows, written.files, details=details)}

    def _held_rows(self, fact_source: str, pending: dict | None) -> DataFrame | None:
        """The versions the previous run held back and the rule it held each for (for the released counts)."""
        files = [key for key in self.zone.list_keys(quarantine_prefix(fact_source, pending["run_id"]))
                 if key.endswith(".parquet")] if pending else []
        if not files:
            return None
        # The schema given, not inferred: inferring it is a Spark job of its own.
        return self.spark.read.schema(held_rows_schema(fact_source)).parquet(*(self.zone.uri_of(k) for k in files))

    def _parents_to_narrow(self, fact_source: str, state: TransformState, pending: dict | None) -> frozenset[str]:
        """The big parents a small batch checks its foreign keys against only where it refers to them."""
        candidate_rows = self._batch_rows.get(fact_source, 0) + (pending or {}).get("rows", 0)
        if candidate_rows > SMALL_BATCH_ROWS:
            return frozenset()
        return frozenset(parent for _, parent in FACT_PARENTS[fact_source] if parent != "currency"
                         and state.current.get(parent, {}).get("rows", 0) >= LAYERED_STATE_MIN_ROWS)

    def _pending_df(self, fact_source: str, pending: dict | None) -> DataFrame | None:
        if not pending:
            return None
        table = source_table(fact_source)
        return self._read_snapshot(quarantine_prefix(fact_source, pending["run_id"]), fact_source) \
            .select(*table.column_names)

    def _read_quarantine(self, fact_source: str, files: list[str]) -> DataFrame:
        return self.spark.read.parquet(*(self.zone.uri_of(key) for key in files))

    def _write_changes(self, name: str, dim_df: DataFrame, batches: dict[str, DataFrame | None]) -> list[str]:
        """The rows of a dimension this run's batch touched, beside its full snapshot.

        For a dimension built from one source table, those are all the rows that can differ from the previous
        snapshot, so a load that has that snapshot merges only these (a delta touches a few of the 1.7 million
        dim_transaction rows at scale 100) instead of the whole snapshot. Taken from the new snapshot, never
        from the batch: a batch row can be older than the current one (a late or reconciled version).
        """
        (source,) = dims.DIMENSION_INPUTS[name]
        (key,) = star_table(name).natural_key
        touched_df = batches[source].select(F.col(source_table(source).primary_key).alias(key))
        changes_df = dim_df.join(touched_df, on=key, how="left_semi").coalesce(1)
        return write_parquet(self.spark, changes_df, self.zone, changes_prefix(name, self.run_id)).files

    def _dimensions(self, state: TransformState, changed: set[str], current: dict[str, DataFrame],
                    currency_df: DataFrame, fact_outputs: dict[str, TableOutput],
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
            build = builders[name]
            dim_df = build()
            had_snapshot = name in state.dimensions
            if name == "dim_staff":
                require_resolved(name, dim_df, "staff_id", "department_name", "department")
            if name == "dim_counterparty":
                require_resolved(name, dim_df, "counterparty_id", "counterparty_legal_address_line_1", "address")
            details = {}
            if name == "dim_currency":
                unknown_codes = self._report_unknown_currencies(currency_df)
                details = {"unknown_currency_codes": unknown_codes} if unknown_codes else {}
            output = self._write_dimension(state, name, dim_df.coalesce(1), details)
            if had_snapshot and len(dims.DIMENSION_INPUTS[name]) == 1:
                output.details["changes_files"] = self._write_changes(name, dim_df, batches)
            return output

        to_write = [name for name in builders
                    if name not in state.dimensions or changed.intersection(dims.DIMENSION_INPUTS[name])]
        outputs = dict(zip(to_write, in_parallel(write, to_write)))
        date_output = self._dim_date(state, fact_outputs)
        if date_output:
            outputs["dim_date"] = date_output
        return outputs

    def _source_deletions(self, state: TransformState, inputs: list[RunManifest]) -> TableOutput | None:
        """The complete list of source rows reconciliations found deleted, rewritten when the inputs add some.

        Nothing is removed anywhere (README, "Reconciliation": the delete policy); a row re-detected (a
        reconciliation killed before its bookmark, then run again) keeps its first detection.
        """
        found = [(name, key) for manifest in inputs for name, output in manifest.tables.items()
                 for key in output.details.get("deletion_files", [])]
        if not found:
            return None
        new_df = reduce(DataFrame.unionByName, [
            self.spark.read.schema(DELETION_SCHEMA).parquet(*(self.ingestion_zone.uri_of(k) for n, k in found if n == name))
            .select(F.lit(name).alias("source_table"), "source_id",
                    F.to_date("last_updated").alias("last_updated_date"),
                    time_of_day(F.col("last_updated")).alias("last_updated_time"),
                    F.to_date("detected_at").alias("detected_date"),
                    time_of_day(F.col("detected_at")).alias("detected_time"))
            for name in dict.fromkeys(n for n, _ in found)])
        previous = state.dimensions.get(SOURCE_DELETION.name)
        if previous:
            previous_df = self.spark.read.schema(SOURCE_DELETION.spark_schema).parquet(
                *(self.zone.uri_of(k) for k in previous["files"]))
            new_df = previous_df.withColumn(NEWER, F.lit(0)).unionByName(new_df.withColumn(NEWER, F.lit(1)))
        else:
            new_df = new_df.withColumn(NEWER, F.lit(1))
        first_detection = Window.partitionBy("source_table", "source_id").orderBy(NEWER, "detected_date",
                                                                                   "detected_time")
        deletions_df = (new_df.withColumn("_n", F.row_number().over(first_detection)).where(F.col("_n") == 1)
                        .select(*SOURCE_DELETION.column_names))
        output = self._write_dimension(state, SOURCE_DELETION.name, deletions_df.coalesce(1), {})
        log_event(logger, "source deletions recorded", logging.WARNING, rows=output.rows,
                  tables=sorted(dict.fromkeys(n for n, _ in found)))
        return output

    def _write_dimension(self, state: TransformState, name: str, dim_df: DataFrame, details: dict) -> TableOutput:
        written = write_parquet(self.spark, dim_df, self.zone, f"{name}/run_id={self.run_id}")
        state.dimensions[name] = {"run_id": self.run_id, "rows": written.rows, "files": written.files}
        log_event(logger, "dimension built", table=name, rows=written.rows, status="written")
        return TableOutput(name, written.rows, written.files,
                           details={"status": "written", "snapshot_run_id": self.run_id, **details})

    def _dim_date(self, state: TransformState, fact_outputs: dict[str, TableOutput]) -> TableOutput | None:
        """A gapless calendar of whole years covering every date any fact refers to; rewritten only when a date
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
        if new_range == state.date_range and "dim_date" in state.dimensions:
            return None
        state.date_range = new_range
        calendar_df = dims.dim_date(self.spark, first_day, last_day).coalesce(1)
        return self._write_dimension(state, "dim_date", calendar_df, {"first_date": new_range[0],
                                                                      "last_date": new_range[1]})
