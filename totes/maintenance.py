"""Table maintenance of the processed zone's Iceberg tables: compaction, snapshot expiry, orphan files.

Every transformation run adds a snapshot, and small data files, to each table it changes: 96 a day on the
15-minute schedule. Left alone, a table's metadata and file count grow with time rather than with data. On AWS
the Glue Data Catalog's table optimizers maintain every processed table (terraform/maintenance.tf); on the local
stack this module does the same three things, with the settings of the workflow definition's ``maintenance``
(workflow/workflow.json), which Terraform reads for the optimizers too:

1. **compaction**: Iceberg's ``rewrite_data_files`` (bin-packing small files of a partition into one); its
   commit is a ``replace`` snapshot, which changelog reads skip, so the load sees no change where there is none.
   The commit carries the pipeline's summary properties of the snapshot it replaces (the rows are the same
   ones), so a transformation run resuming a killed one still sees which inputs the table holds;
2. **snapshot expiry**: ``expire_snapshots`` older than ``snapshot_retention_days``, always keeping the last
   ``snapshots_to_retain``, and deleting the files only they referenced. The load reads a table's changes from
   the snapshot it last loaded; one that has expired is read whole (idempotent, only slower), so the retention
   is days, far above the schedule's interval;
3. **orphan files**: ``remove_orphan_files`` older than ``orphan_file_retention_days`` (Iceberg refuses less
   than a day: a file that young may belong to a commit still under way).

Tables of the definition's list that do not exist yet (the transformation creates them on its first run) are
skipped. Run it as a job is run: ``python -m totes.maintenance --processed-zone <uri> --catalog-database <name>
--processed-catalog jdbc:<secret id>``; without arguments, with the local stack's (``make maintenance``). The
local schedule runs it every ``every_hours`` (totes/local/schedule.py), between two workflow runs, so it never
competes with the transformation's commits.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from dataclasses import asdict, dataclass

from pyspark.sql import SparkSession

from totes.iceberg import RUN_ID_PROPERTY, ProcessedCatalog, catalog_from_args, current_snapshot, table_exists, use_catalog
from totes.logs import log_event

logger = logging.getLogger("totes.maintenance")

# The prefix of the pipeline's own snapshot summary properties (totes.iceberg.RUN_ID_PROPERTY and the
# transformation's), which a compaction carries over.
PIPELINE_PROPERTY_PREFIX = "totes."


@dataclass(frozen=True)
class MaintenancePolicy:
    """How long snapshots and unreferenced files are kept, and how often maintenance runs."""

    every_hours: float
    snapshot_retention_days: float
    snapshots_to_retain: int
    orphan_file_retention_days: float

    def __post_init__(self):
        if self.snapshots_to_retain < 1:
            raise ValueError(f"snapshots_to_retain must be at least 1 (the current snapshot), got {self.snapshots_to_retain}")
        if self.orphan_file_retention_days < 1:
            raise ValueError("orphan_file_retention_days must be at least 1: Iceberg refuses to delete files younger "
                             f"than a day, which may belong to a commit under way; got {self.orphan_file_retention_days}")
        if self.snapshot_retention_days * 24 <= self.every_hours:
            raise ValueError(f"snapshot_retention_days ({self.snapshot_retention_days}) must be longer than the interval "
                             f"every_hours ({self.every_hours}): the load reads changes from snapshots that old")

    @classmethod
    def from_definition(cls, definition: dict) -> "MaintenancePolicy":
        return cls(float(definition["every_hours"]), float(definition["snapshot_retention_days"]),
                   int(definition["snapshots_to_retain"]), float(definition["orphan_file_retention_days"]))


@dataclass(frozen=True)
class Maintenance:
    """The workflow definition's ``maintenance``: its policy, the job-style arguments and the tables."""

    policy: MaintenancePolicy
    arguments: dict[str, str]
    tables: tuple[str, ...]

    @classmethod
    def from_definition(cls, definition: dict) -> "Maintenance":
        return cls(MaintenancePolicy.from_definition(definition), dict(definition["arguments"]),
                   tuple(definition["tables"]))


def load_maintenance(variables: dict[str, str] | None = None) -> Maintenance:
    """The maintenance definition of workflow/workflow.json, its placeholders filled (by default: the local stack's)."""
    from totes.local.workflow import WORKFLOW_FILE, local_workflow_variables, render

    text = render(WORKFLOW_FILE.read_text(), variables if variables is not None else local_workflow_variables())
    return Maintenance.from_definition(json.loads(text)["maintenance"])


@dataclass
class TableMaintenance:
    """What maintenance did to one table."""

    table: str
    exists: bool = True
    data_files_before: int = 0
    data_files_after: int = 0
    rewritten_data_files: int = 0
    snapshots_before: int = 0
    snapshots_after: int = 0
    expired_data_files: int = 0
    orphan_files_removed: int = 0


def _timestamp(moment: dt.datetime) -> str:
    """A Spark SQL TIMESTAMP literal of the moment, its offset included so that the session's time zone does not
    shift it (the procedures take no expression such as current_timestamp())."""
    return f"TIMESTAMP '{moment.astimezone(dt.timezone.utc).strftime('%Y-%m-%d %H:%M:%S.%f')}+00:00'"


def _count(spark: SparkSession, table: str, metadata_table: str) -> int:
    return spark.sql(f"SELECT count(*) AS n FROM {table}.{metadata_table}").first()["n"]


def compact(spark: SparkSession, table: str, run_id: str) -> int:
    """Bin-pack the table's small data files; returns how many were rewritten.

    Through Iceberg's action API rather than the ``rewrite_data_files`` procedure: only the action takes summary
    properties for its commit (the procedure ignores the thread-local totes.iceberg.commits_tagged sets).
    """
    before = current_snapshot(spark, table)
    if before is None:
        return 0
    jvm = spark.sparkContext._jvm
    jvm_table = jvm.org.apache.iceberg.spark.Spark3Util.loadIcebergTable(spark._jsparkSession, table)
    action = jvm.org.apache.iceberg.spark.actions.SparkActions.get(spark._jsparkSession).rewriteDataFiles(jvm_table)
    for key, value in before.summary.items():
        if key.startswith(PIPELINE_PROPERTY_PREFIX) and key != RUN_ID_PROPERTY:
            action = action.snapshotProperty(key, value)
    result = action.snapshotProperty(RUN_ID_PROPERTY, run_id).execute()
    return int(result.rewrittenDataFilesCount())


def expire_snapshots(spark: SparkSession, catalog: ProcessedCatalog, name: str, older_than: dt.datetime,
                     retain_last: int) -> int:
    """Expire the table's snapshots older than ``older_than`` but the last ``retain_last``; returns how many data
    files went with them (those only expired snapshots referenced, such as a compaction's inputs)."""
    expired = spark.sql(
        f"CALL {catalog.spark_name}.system.expire_snapshots(table => '{catalog.namespace}.{name}', "
        f"older_than => {_timestamp(older_than)}, retain_last => {retain_last})").first()
    return int(expired["deleted_data_files_count"])


def maintain_table(spark: SparkSession, catalog: ProcessedCatalog, name: str, policy: MaintenancePolicy,
                   run_id: str, now: dt.datetime) -> TableMaintenance:
    table = catalog.table(name)
    if not table_exists(spark, table):
        return TableMaintenance(name, exists=False)
    outcome = TableMaintenance(name, data_files_before=_count(spark, table, "files"),
                               snapshots_before=_count(spark, table, "snapshots"))
    outcome.rewritten_data_files = compact(spark, table, run_id)
    outcome.expired_data_files = expire_snapshots(spark, catalog, name, now - dt.timedelta(
        days=policy.snapshot_retention_days), policy.snapshots_to_retain)
    identifier = f"'{catalog.namespace}.{name}'"
    # Hadoop's file system lists a local zone; S3FileIO's own prefix listing lists s3:// (the rehearsal's).
    listing = ", prefix_listing => true" if catalog.zone_uri.startswith("s3") else ""
    orphans = spark.sql(
        f"CALL {catalog.spark_name}.system.remove_orphan_files(table => {identifier}, "
        f"older_than => {_timestamp(now - dt.timedelta(days=policy.orphan_file_retention_days))}{listing})").collect()
    outcome.orphan_files_removed = len(orphans)
    spark.sql(f"REFRESH TABLE {table}")
    outcome.data_files_after = _count(spark, table, "files")
    outcome.snapshots_after = _count(spark, table, "snapshots")
    return outcome


def maintain(spark: SparkSession, catalog: ProcessedCatalog, tables, policy: MaintenancePolicy,
             now: dt.datetime | None = None) -> list[TableMaintenance]:
    """Maintain each of ``tables`` that exists, one after the other; a failure names the table and is raised."""
    now = now or dt.datetime.now(dt.timezone.utc)
    run_id = f"maintenance-{now.strftime('%Y%m%dT%H%M%SZ')}"
    use_catalog(spark, catalog)
    outcomes = []
    for name in tables:
        try:
            outcome = maintain_table(spark, catalog, name, policy, run_id, now)
        except Exception as error:  # noqa: BLE001 - re-raised with the table it happened to
            raise MaintenanceError(f"maintenance of {catalog.namespace}.{name} failed: "
                                   f"{type(error).__name__}: {' '.join(str(error).split())[:500]}") from error
        outcomes.append(outcome)
        if outcome.exists:
            log_event(logger, "table maintained", **asdict(outcome))
    return outcomes


class MaintenanceError(RuntimeError):
    """Maintenance of one table failed; the message names it and the cause. The table stays at its last commit."""


def run(definition: Maintenance, arguments: dict[str, str] | None = None) -> list[TableMaintenance]:
    """Maintain the definition's tables in the catalog of ``arguments`` (default: the definition's), in a local
    Spark session of its own."""
    from totes.local.spark import get_local_spark

    arguments = arguments or definition.arguments
    catalog = catalog_from_args({name.removeprefix("--").replace("-", "_"): value for name, value in arguments.items()})
    spark = get_local_spark("totesys maintenance")
    try:
        outcomes = maintain(spark, catalog, definition.tables, definition.policy)
    finally:
        spark.stop()
    present = [outcome for outcome in outcomes if outcome.exists]
    log_event(logger, f"maintenance of {len(present)} table(s) finished",
              data_files_before=sum(o.data_files_before for o in present),
              data_files_after=sum(o.data_files_after for o in present),
              snapshots_before=sum(o.snapshots_before for o in present),
              snapshots_after=sum(o.snapshots_after for o in present),
              orphan_files_removed=sum(o.orphan_files_removed for o in present),
              missing=[o.table for o in outcomes if not o.exists])
    return outcomes


def main(argv: list[str] | None = None) -> list[TableMaintenance]:
    """``python -m totes.maintenance [--processed-zone URI --catalog-database NAME --processed-catalog KIND]``."""
    from totes import logs

    definition = load_maintenance()
    parser = argparse.ArgumentParser(prog="python -m totes.maintenance", description=__doc__.splitlines()[0])
    for name, default in definition.arguments.items():
        parser.add_argument(name, default=default, help=f"default: the local stack's, {default}")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    logs.configure(job="totesys-maintenance")
    return run(definition, {name: getattr(args, name.removeprefix("--").replace("-", "_"))
                            for name in definition.arguments})


if __name__ == "__main__":
    main()
