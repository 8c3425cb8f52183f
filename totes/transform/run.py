"""One transformation run: the ingestion runs not yet processed → the star schema in the processed zone.

The processed zone is a set of Apache Iceberg tables in one catalog namespace (README, "The processed zone";
:mod:`totes.iceberg`): the facts (partitioned by the month their rows were created in), the dimensions, the
deletion table, the quarantine of each fact source table, and the current state of each lookup source table
(``current_<table>``, kept with MERGE, internal to this job). Beside them, in the zone's folders:

    <zone>/_manifests/totesys-transform/<run id>.json    the commit record of a run: every table's snapshot id
    <zone>/_state/bookmarks/totesys-transform.json       the job bookmark

Each table commits on its own, carrying the run id and the last input run in its snapshot summary
(:mod:`totes.transform.commits`); the manifest, written last, names the snapshot of every table the run leaves,
which is what the load reads up to. A run killed between two table commits is completed by the next run from the
same inputs: a table whose current snapshot already covers them is not written again, and every write is a MERGE
on the table's natural key, so nothing is ever there twice.

This module is the run's order of work and its bookkeeping (the bookmark's state, the manifest); each step is a
module of its own: the input batches (:mod:`~totes.transform.inputs`), the current state of the lookup tables
(:mod:`~totes.transform.current_state`), the facts and their quarantine (:mod:`~totes.transform.fact_writer`),
the dimensions and the calendar (:mod:`~totes.transform.dimension_writer`), the deletions
(:mod:`~totes.transform.deletions`).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass

from pyspark.sql import SparkSession

from totes.bookmarks import ENABLE, JobBookmark
from totes.iceberg import ProcessedCatalog, current_snapshot
from totes.logs import log_event
from totes.manifests import RunManifest, TableOutput, list_manifests, write_manifest
from totes.spark_errors import file_failure, is_java_error, names_a_file
from totes.star import AUDIT_TABLES, DIMENSIONS, FACTS, SOURCE_DELETION
from totes.tables import source_table
from totes.transform import dimensions as dims
from totes.transform.commits import LOOKUP_TABLES, RunCommits, ensure_tables, in_parallel
from totes.transform.contracts import InputReadError
from totes.transform.current_state import CurrentState
from totes.transform.deletions import record_deletions
from totes.transform.dimension_writer import DimensionWriter
from totes.transform.fact_writer import FactWriter
from totes.transform.inputs import InputBatches
from totes.transform.quality import FACT_SOURCE_TABLES
from totes.transform.staging import stage
from totes.zones import ZoneStore

logger = logging.getLogger("totes.transform")

BOOKMARK_CTX = "ingestion_zone"


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
        manifests = list_manifests(self.ingestion_zone, self.ingest_job_name, state.last_input_run_id)
        log_event(logger, "run started", run_id=self.run_id, inputs=len(manifests),
                  after_input_run_id=state.last_input_run_id)
        ensure_tables(self.spark, self.catalog)
        outputs: dict[str, TableOutput] = {}
        if manifests:
            inputs = InputBatches(self.spark, self.ingestion_zone, manifests)
            outputs = self._write_tables(inputs, state)
            state.last_input_run_id = inputs.last_run_id
        ordered = {}
        for table in DIMENSIONS + FACTS + AUDIT_TABLES:
            output = outputs.get(table.name) or TableOutput(table.name, 0, details={"status": "unchanged"})
            snapshot = current_snapshot(self.spark, self.catalog.table(table.name))
            output.details["snapshot_id"] = snapshot.snapshot_id if snapshot else None
            ordered[table.name] = output
        manifest = RunManifest(
            job_name=self.bookmark.job_name, run_id=self.run_id, started_at=started_at.isoformat(),
            finished_at=dt.datetime.now(dt.timezone.utc).isoformat(), bookmark_option=self.bookmark.option,
            glue_job_run_id=self.glue_job_run_id, tables=ordered, inputs=[m.run_id for m in manifests],
            state=asdict(state),
        )
        manifest_key = write_manifest(self.zone, manifest)
        self.bookmark.stage(BOOKMARK_CTX, asdict(state))
        log_event(logger, "manifest written", manifest=manifest_key, inputs=len(manifests),
                  rows=sum(o.rows for name, o in ordered.items() if name.startswith("fact_")))
        return TransformResult(self.run_id, manifest_key, manifest.inputs, ordered)

    def _write_tables(self, inputs: InputBatches, state: TransformState) -> dict[str, TableOutput]:
        """Every table the inputs change: the current state and the facts (judged against the keys the current
        state holds with the batch's) side by side, then the dimensions (from the merged current state), the
        calendar and the deletions."""
        commits = RunCommits(self.spark, self.catalog, self.run_id, inputs.last_run_id)
        # Opening a parquet input is a driver round trip (listing, footers): the tables open side by side.
        names = LOOKUP_TABLES + FACT_SOURCE_TABLES
        batches = dict(zip(names, in_parallel(inputs.read, names)))
        current_state = CurrentState(commits, inputs, batches)
        parent_keys = current_state.keys()
        facts = FactWriter(commits, inputs, current_state.rows)
        iso_currencies_df = dims.iso_4217_currencies(self.spark)
        fact_currency_df = (current_state.with_batch("currency").transform(stage(source_table("currency")))
                            .transform(dims.with_currency_names(iso_currencies_df)))
        # The facts need only the keys their parents will hold (known now), the dimensions the merged rows: the
        # current state's MERGE runs beside the facts, the dimensions after both.
        changed: set[str] = set()
        outputs: dict[str, TableOutput] = {}

        def step(name: str) -> None:
            if name == "current state":
                changed.update(current_state.update())
            else:
                outputs.update(facts.write(name, batches[name], parent_keys, fact_currency_df))

        in_parallel(step, ("current state", *FACT_SOURCE_TABLES))
        current = {name: df.transform(stage(source_table(name))) for name, df in current_state.read().items()}
        currency_df = current["currency"].transform(dims.with_currency_names(iso_currencies_df))
        dimension_writer = DimensionWriter(commits)
        outputs.update(dimension_writer.write_changed(changed, current, currency_df, batches))
        calendar = dimension_writer.write_calendar(state.date_range, outputs)
        if calendar:
            outputs["dim_date"] = calendar
            state.date_range = [calendar.details["first_date"], calendar.details["last_date"]]
        deletions = record_deletions(commits, self.ingestion_zone, inputs.deletion_files())
        if deletions:
            outputs[SOURCE_DELETION.name] = deletions
        return outputs
