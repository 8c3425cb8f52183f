"""The local crawler of the ingestion zone: discovers its tables and partitions and registers them in the local
catalog, as the zone's Glue crawler does on AWS (workflow/workflow.json; the processed zone's Iceberg tables have
no crawler: their Iceberg catalog registers them).

Like a Glue crawler it walks the zone's folders: each top-level folder is a table, Hive-style ``key=value``
folders under it are partitions, and the newest parquet footer gives the columns. It reports tables created,
partitions added and schema changes. Unlike a plain crawler, it skips run folders that no committed manifest
names (the leftovers of a killed run), which readers must never see.

    python -m totes.local.crawler
"""

from __future__ import annotations

import logging
import os
import re
import sys
from dataclasses import dataclass, field

from totes import logs, settings
from totes.catalog import add_partitions, catalog_client, ensure_database, ensure_table, table_input
from totes.logs import log_event
from totes.manifests import list_manifest_run_ids
from totes.parquet_io import parquet_schema
from totes.zones import ZoneStore

logger = logging.getLogger("totes.crawler")

_RUN_FOLDER = re.compile(r"(?:^|/)run_id=([^/]+)")
# Arrow types as Glue names them.
_GLUE_TYPES = {"int32": "int", "int16": "smallint", "int64": "bigint", "string": "string", "bool": "boolean",
               "date32[day]": "date"}


def _glue_type(arrow_type) -> str:
    text = str(arrow_type)
    if text.startswith("timestamp"):
        return "timestamp"
    if text.startswith("decimal128"):
        return text.replace("decimal128", "decimal").replace(" ", "")
    return _GLUE_TYPES.get(text, text)


@dataclass
class CrawlReport:
    database: str
    tables_created: list[str] = field(default_factory=list)
    schema_changes: list[str] = field(default_factory=list)
    partitions_added: dict[str, int] = field(default_factory=dict)
    skipped_uncommitted_files: int = 0


@dataclass(frozen=True)
class ZoneToCrawl:
    database: str
    zone: ZoneStore
    committing_job: str  # whose manifests say which run folders are committed


def local_ingestion_zone() -> ZoneToCrawl:
    return ZoneToCrawl(settings.INGESTION_DATABASE, ZoneStore.for_uri(settings.LOCAL_INGESTION_ZONE),
                       settings.INGEST_JOB_NAME)


def _run_of(key: str) -> str:
    """The run id in a file's path ('' when none); run ids sort by time."""
    match = _RUN_FOLDER.search(key)
    return match.group(1) if match else ""


def _partition_values(folder: str) -> list[tuple[str, str]]:
    """The Hive-style ``key=value`` folders under a file's table folder."""
    return [tuple(part.split("=", 1)) for part in folder.split("/")[1:] if "=" in part]


def crawl(client, target: ZoneToCrawl) -> CrawlReport:
    """Register the zone's tables and partitions; keeps what the job registered, reports what changed."""
    zone = target.zone
    report = CrawlReport(target.database)
    ensure_database(client, target.database, location=zone.uri)
    committed = set(list_manifest_run_ids(zone, target.committing_job))
    files_by_table: dict[str, list[str]] = {}
    for key in zone.list_keys(""):
        if not key.endswith(".parquet") or key.startswith("_") or "/" not in key:
            continue
        run = _RUN_FOLDER.search(key)
        if run and run.group(1) not in committed:
            report.skipped_uncommitted_files += 1
            continue
        files_by_table.setdefault(key.split("/", 1)[0], []).append(key)
    for name, files in sorted(files_by_table.items()):
        folders = sorted({key.rsplit("/", 1)[0] for key in files})
        partition_names = [k for k, _ in _partition_values(folders[-1])]
        schema = parquet_schema(zone.uri_of(max(files, key=_run_of)))
        columns = [{"Name": f.name, "Type": _glue_type(f.type)} for f in schema if f.name not in partition_names]
        wanted = table_input(name, columns, zone.uri_of(name),
                             [{"Name": key, "Type": "string"} for key in partition_names])
        outcome = ensure_table(client, target.database, wanted)
        if outcome == "created":
            report.tables_created.append(name)
        elif outcome == "updated":
            report.schema_changes.append(name)
        if wanted["PartitionKeys"]:
            partitions = [([v for _, v in _partition_values(folder)], zone.uri_of(folder))
                          for folder in folders]
            added = add_partitions(client, target.database, wanted, partitions)
            if added:
                report.partitions_added[name] = added
    log_event(logger, "crawl finished", database=target.database, tables_created=report.tables_created,
              schema_changes=report.schema_changes, partitions_added=report.partitions_added,
              skipped_uncommitted_files=report.skipped_uncommitted_files)
    return report


def main() -> int:
    os.environ.setdefault(logs.CONSOLE_FORMAT_ENV, "text")
    logs.configure(job="local-crawler")
    report = crawl(catalog_client(), local_ingestion_zone())
    print(f"{report.database}: {len(report.tables_created)} table(s) created, "
          f"{sum(report.partitions_added.values())} partition(s) added, "
          f"schema changed in {', '.join(report.schema_changes) or 'no table'}"
          + (f", {report.skipped_uncommitted_files} file(s) of uncommitted runs skipped"
             if report.skipped_uncommitted_files else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
