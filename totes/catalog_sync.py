"""The ingestion job registers what it committed in the Data Catalog, so Athena sees each run as soon as it is
committed.

Registration follows the run's manifest (never precedes it), and every run registers all of the job's committed
manifests newer than its bookmark: a run killed after its manifest is registered by the next run. Registering is
idempotent, which is what makes that safe. The zone's crawler then only needs to run when a schema changes
(workflow/workflow.json schedules it daily), instead of every 15 minutes at a 10-minute minimum each. The
processed zone needs none of this: its Iceberg tables are registered by the Iceberg catalog they commit to
(totes/iceberg.py).
"""

from __future__ import annotations

import logging

from totes.bookmarks import ENABLE, JobBookmark
from totes.catalog import add_partitions, ensure_database, ensure_table, glue_columns, table_input
from totes.tables import expected_spark_schema
from totes.logs import log_event
from totes.manifests import RunManifest, list_manifests, read_manifest
from totes.tables import source_table
from totes.zones import ZoneStore

logger = logging.getLogger("totes.catalog")

INGESTION_PARTITION_KEYS = [{"Name": "ingest_date", "Type": "string"}, {"Name": "run_id", "Type": "string"}]

def _folder(key: str) -> str:
    return key.rsplit("/", 1)[0]

def partitions_of(zone: ZoneStore, files: list[str]) -> list[tuple[list[str], str]]:
    """(values, location) of the Hive-style folders holding ``files``, e.g. ingest_date=2024-11-04/run_id=R"""
    found = {}
    for key in files:
        folder = _folder(key)
        values = [part.split("=", 1)[1] for part in folder.split("/")[1:] if "=" in part]
        found[tuple(values)] = zone.uri_of(folder)
    return [(list(values), location) for values, location in sorted(found.items())]

def register_ingestion_run(client, database: str, zone: ZoneStore, manifest: RunManifest) -> dict:
    added = {}
    for name, output in manifest.tables.items():
        if not output.files:
            continue
        wanted = table_input(name, glue_columns(expected_spark_schema(source_table(name))), zone.uri_of(name),
                             INGESTION_PARTITION_KEYS)
        ensure_table(client, database, wanted)
        added[name] = add_partitions(client, database, wanted, partitions_of(zone, output.files))
    return added

def register_committed_runs(client, database: str, zone: ZoneStore, manifests: list[RunManifest],
                            register) -> None:
    ensure_database(client, database, location=zone.uri)
    for manifest in manifests:
        added = register(client, database, zone, manifest)
        log_event(logger, "catalog updated", database=database, manifest_run_id=manifest.run_id,
                  partitions_added=sum(added.values()))


def manifests_to_register(zone: ZoneStore, bookmark: JobBookmark, run_id: str) -> list[RunManifest]:
    """This run's manifest and, with the bookmark enabled, any committed after the bookmark by a killed run."""
    if bookmark.option != ENABLE:
        return [read_manifest(zone, bookmark.job_name, run_id)]
    return list_manifests(zone, bookmark.job_name, bookmark.last_accounted_run_id)
