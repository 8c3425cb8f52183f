"""One run of the load job: the transform runs committed after the bookmark, loaded as one batch.

Order of effects, which is what makes every failure harmless:

1. read the bookmark (the newest transform run already loaded, and the Iceberg snapshot of each table it
   loaded) and the committed transform manifests after it; plan one batch of table changes up to the newest
   manifest's snapshots (:mod:`totes.warehouse.batch`);
2. connect and check the warehouse against ``totes/star.py`` (a wrong password, a missing table or a retyped
   column fails here, before anything is read);
3. read each table's changes, then stage, check and merge the batch in ONE warehouse transaction
   (:mod:`totes.warehouse.loader`): a failure anywhere rolls it back;
4. only after the warehouse COMMIT: write this run's manifest (``_manifests/totesys-load/<run id>.json``) and
   stage the bookmark; the job commits the bookmark right before ``job.commit()``.

A run killed after the warehouse COMMIT but before its bookmark is saved leaves the bookmark behind the
warehouse: the next run loads the same changes again, which changes nothing, because fact versions are
skipped on their natural key (source id, last_updated) and dimension upserts of equal rows write nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

import psycopg
from pyspark.sql import SparkSession

from totes.bookmarks import JobBookmark
from totes.freshness import FreshnessReporter
from totes.iceberg import ProcessedCatalog
from totes.logs import log_event
from totes.manifests import RunManifest, TableOutput, write_manifest
from totes.secrets import DatabaseCredentials
from totes.settings import TRANSFORM_JOB_NAME
from totes.star import WAREHOUSE_TABLES
from totes.warehouse.batch import LoadBatch, plan_batch, read_changes, read_manifests
from totes.warehouse.database import connect, scrub
from totes.warehouse.errors import WarehouseUnavailableError
from totes.warehouse.loader import TableLoad, WarehouseLoader, log_table_loads
from totes.warehouse.schema import check_warehouse_schema
from totes.zones import ZoneStore

logger = logging.getLogger("totes.warehouse")

# The bookmark entry of the one "read" this job does: the transform manifests.
TRANSFORM_MANIFESTS_CTX = "transform_manifests"


@dataclass
class LoadResult:
    run_id: str
    manifest_key: str
    batch_run_ids: list[str]
    tables: list[TableLoad] = field(default_factory=list)  # empty when there was nothing to load


class LoadRun:
    def __init__(self, spark: SparkSession, zone: ZoneStore, catalog: ProcessedCatalog, bookmark: JobBookmark,
                 credentials: DatabaseCredentials, run_id: str, glue_job_run_id: str | None = None,
                 transform_job_name: str = TRANSFORM_JOB_NAME, freshness: FreshnessReporter | None = None):
        self.spark = spark
        self.zone = zone
        self.catalog = catalog
        self.bookmark = bookmark
        self.credentials = credentials
        self.run_id = run_id
        self.glue_job_run_id = glue_job_run_id
        self.transform_job_name = transform_job_name
        self.freshness = freshness

    def run(self) -> LoadResult:
        started_at = dt.datetime.now(dt.timezone.utc)
        state = self.bookmark.state(TRANSFORM_MANIFESTS_CTX) or {}
        after = state.get("last_transform_run_id")
        loaded = state.get("snapshots", {})
        batch = plan_batch(read_manifests(self.zone, self.transform_job_name, after), loaded)
        with connect(self.credentials) as conn:
            check_warehouse_schema(conn)
            conn.rollback()  # the check only read the catalog; the load opens its own transaction
            if batch.manifests:
                log_event(logger, "batch planned", transform_runs=batch.run_ids, after_run_id=after,
                          changes={t.table.name: [t.loaded_snapshot, t.target_snapshot] for t in batch.tables},
                          snapshots_already_loaded=batch.already_loaded)
                loads = self._load(conn, batch)
            else:
                log_event(logger, "nothing to load: no transform run committed after the bookmark",
                          after_run_id=after)
                loads = []
        manifest = self._manifest(started_at, batch, loads)
        manifest_key = write_manifest(self.zone, manifest)
        log_event(logger, "manifest written", manifest=manifest_key, transform_runs=batch.run_ids)
        if self.freshness is not None:
            self.freshness.report(manifest)  # README, "Freshness"
        self.bookmark.stage(TRANSFORM_MANIFESTS_CTX, {"last_transform_run_id": batch.newest_run_id or after,
                                                      "snapshots": {**loaded, **batch.targets}})
        return LoadResult(self.run_id, manifest_key, batch.run_ids, loads)

    def _load(self, conn, batch: LoadBatch) -> list[TableLoad]:
        changes = {table_changes.table.name: table_changes for table_changes in batch.tables}
        try:
            loads = WarehouseLoader(conn).load(
                [table_changes.table for table_changes in batch.tables],
                lambda table: read_changes(self.spark, self.catalog, changes[table.name]),
                corrected_facts=frozenset(t.table.name for t in batch.tables if t.corrects_versions),
            )
        except psycopg.OperationalError as error:
            # A restart or a cut connection mid-load: PostgreSQL rolled the transaction back with it.
            cause = scrub(" ".join(str(error).split()), self.credentials.password)
            raise WarehouseUnavailableError(
                f"lost the warehouse {self.credentials.describe()} during the load (rolled back): {cause}"
            ) from None
        log_table_loads(loads)
        return loads

    def _manifest(self, started_at: dt.datetime, batch: LoadBatch, loads: list[TableLoad]) -> RunManifest:
        return RunManifest(
            job_name=self.bookmark.job_name,
            run_id=self.run_id,
            started_at=started_at.isoformat(),
            finished_at=dt.datetime.now(dt.timezone.utc).isoformat(),
            bookmark_option=self.bookmark.option,
            glue_job_run_id=self.glue_job_run_id,
            inputs=batch.run_ids,
            tables=self._outputs(batch, loads),
        )

    @staticmethod
    def _outputs(batch: LoadBatch, loads: list[TableLoad]) -> dict[str, TableOutput]:
        """Per table in load order: what the merge did, or which already loaded snapshot was skipped."""
        loaded = {load.table: load for load in loads}
        planned = {changes.table.name: changes for changes in batch.tables}
        outputs = {}
        for table in WAREHOUSE_TABLES:
            if table.name in loaded:
                load = loaded[table.name]
                outputs[table.name] = TableOutput(table.name, rows=load.staged, details={
                    **load.counts(), "from_snapshot": planned[table.name].loaded_snapshot,
                    "snapshot_id": planned[table.name].target_snapshot})
            elif table.name in batch.already_loaded:
                outputs[table.name] = TableOutput(table.name, rows=0, details={
                    "status": "unchanged", "snapshot_id": batch.already_loaded[table.name],
                    "already_loaded": True})
        return outputs
