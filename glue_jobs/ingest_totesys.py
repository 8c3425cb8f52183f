"""Glue job: ingest the totesys source tables into the ingestion zone (full first, deltas after).

The same script runs on AWS Glue 5.1 and locally (``local_glue/awsglue`` emulates the subset used here).

Job arguments:
    --JOB_NAME              Glue job name; names the bookmark and manifests
    --ingestion-zone        zone URI: s3://bucket/prefix on AWS, file:///... locally
    --source-secret-id      secret with the source credentials (Secrets Manager; a local file when
                            TOTES_LOCAL_SECRETS_DIR is set)
    --job-bookmark-option   job-bookmark-enable | job-bookmark-disable (Glue's default) | job-bookmark-pause
Optional:
    --catalog-database      Data Catalog database to register committed runs in (none: no registration)
    --tables                comma-separated subset of the source tables (default: all 11)
    --read-lag-seconds, --overlap-seconds, --max-transaction-wait-seconds
                            read window tuning (README, "The bookmark guarantee")
    --reconcile             scheduled (default: when --reconcile-every-hours says it is due) | now | off
    --reconcile-every-hours hours between reconciliations (default 0: only when asked for with --reconcile now)
                            A reconciliation (README, "Reconciliation") is its own run before the delta: it
                            compares row hashes with the source and re-ingests edits and rows the windows
                            missed, and records deleted rows.
    --rewind-table          read one table's rows of a past window again, as a run of its own instead of the
                            reconciliation and the delta (README, "Rewind and backfill"); needs --rewind-from
    --rewind-from, --rewind-to
                            the window, FROM <= last_updated <= TO, as "YYYY-MM-DD[ HH:MM[:SS[.mmm]]]" on the
                            source's clock; TO defaults to (and is capped at) what the bookmark has ingested.
                            Refused when invalid, in the future, or after what was ingested; the deltas' bookmark
                            stays where it was. Glue's one concurrent run of this job keeps a rewind from
                            overlapping the workflow's ingestion; beside its transformation or load it is safe
                            (run ids order the manifests), and those pick the rewind up as ordinary input.
"""

from __future__ import annotations

import datetime as dt
import logging

from totes.bookmarks import ENABLE, JobBookmark
from totes.catalog import catalog_client
from totes.catalog_sync import manifests_to_register, register_committed_runs, register_ingestion_run
from totes.glue_job import Finished, GlueJob, JobContext
from totes.ingest.errors import JobArgumentError, RewindRefusedError
from totes.ingest.reconcile import ReconciliationRun, reconciliation_due, start_schedule
from totes.ingest.rewind import RewindRequest, RewindRun
from totes.ingest.run import IngestionResult, IngestionRun, SourceReader
from totes.ingest.window import WindowPolicy
from totes.logs import log_event
from totes.preflight.databases import ingest_checks
from totes.secrets import get_database_credentials
from totes.settings import DEFAULT_OVERLAP_SECONDS, DEFAULT_READ_LAG_SECONDS
from totes.tables import SOURCE_TABLES, source_table
from totes.zones import ZoneStore

logger = logging.getLogger("totes.ingest")

REQUIRED_ARGS = ["JOB_NAME", "ingestion-zone", "source-secret-id"]
OPTIONAL_ARGS = {
    "tables": "",
    "read-lag-seconds": str(DEFAULT_READ_LAG_SECONDS),
    "overlap-seconds": str(DEFAULT_OVERLAP_SECONDS),
    "max-transaction-wait-seconds": "600",
    "catalog-database": "",
    "reconcile": "scheduled",
    "reconcile-every-hours": "0",
    "rewind-table": "",
    "rewind-from": "",
    "rewind-to": "",
}
RECONCILE_CHOICES = ("scheduled", "now", "off")


def _non_negative(args: dict, name: str, unit: str) -> float:
    value = args[name.replace("-", "_")]
    try:
        number = float(value)
    except ValueError:
        raise JobArgumentError(f"--{name} must be a number of {unit}, got {value!r}") from None
    if number < 0:
        raise JobArgumentError(f"--{name} must not be negative, got {value!r}")
    return number


def _seconds(args: dict, name: str) -> dt.timedelta:
    return dt.timedelta(seconds=_non_negative(args, name, "seconds"))


def window_policy(args: dict) -> WindowPolicy:
    return WindowPolicy(
        read_lag=_seconds(args, "read-lag-seconds"),
        overlap=_seconds(args, "overlap-seconds"),
        max_transaction_wait=_seconds(args, "max-transaction-wait-seconds"),
    )


def selected_tables(args: dict):
    names = [name.strip() for name in args["tables"].split(",") if name.strip()]
    if not names:
        return list(SOURCE_TABLES)
    try:
        return [source_table(name) for name in names]
    except KeyError as error:
        raise JobArgumentError(f"--tables: {error.args[0]}") from None


def reconcile_every_hours(args: dict) -> float:
    if args["reconcile"] not in RECONCILE_CHOICES:
        raise JobArgumentError(f"--reconcile must be one of {', '.join(RECONCILE_CHOICES)}, got {args['reconcile']!r}")
    return _non_negative(args, "reconcile-every-hours", "hours")


def rewind_request(args: dict) -> RewindRequest | None:
    """The rewind the arguments ask for, None for the usual run; refuses arguments that contradict it."""
    table, from_text, to_text = args["rewind_table"], args["rewind_from"], args["rewind_to"]
    if not table.strip():
        if from_text.strip() or to_text.strip():
            raise RewindRefusedError("rewind refused: --rewind-from/--rewind-to need --rewind-table")
        return None
    if args["tables"].strip():
        raise RewindRefusedError("rewind refused: --tables and --rewind-table exclude each other")
    if args["job_bookmark_option"] != ENABLE:
        raise RewindRefusedError(f"rewind refused: a rewind needs --job-bookmark-option {ENABLE}: its window ends "
                                 "where the bookmark says the table was ingested up to, and the bookmark keeps it")
    if args["reconcile"] == "now":
        raise RewindRefusedError("rewind refused: a rewind run does only the rewind; --reconcile now is a run of "
                                 "its own")
    return RewindRequest.parse(table, from_text, to_text)


def ingest_options(args: dict) -> tuple:
    """The read window policy, the tables and the rewind the arguments ask for, refused before anything starts."""
    policy, tables = window_policy(args), selected_tables(args)
    reconcile_every_hours(args)
    return policy, tables, rewind_request(args)


def register_in_catalog(args: dict, zone: ZoneStore, bookmark: JobBookmark, run_id: str) -> None:
    """Registers the runs committed up to ``run_id``; the manifest is written first, the catalog follows it."""
    if args["catalog_database"]:
        register_committed_runs(catalog_client(), args["catalog_database"], zone,
                                manifests_to_register(zone, bookmark, run_id), register_ingestion_run)


def reconcile_first(job: JobContext, zone: ZoneStore, bookmark: JobBookmark, reader: SourceReader,
                    tables) -> JobBookmark:
    """Runs a reconciliation when due or asked for, commits it, and returns the bookmark the delta starts from."""
    args = job.args
    every_hours = reconcile_every_hours(args)
    now = dt.datetime.now(dt.timezone.utc)
    wanted = args["reconcile"] == "now" or (
        args["reconcile"] == "scheduled" and reconciliation_due(bookmark, every_hours, now))
    if not wanted:
        if args["reconcile"] == "scheduled" and every_hours > 0:
            start_schedule(bookmark, now)
        return bookmark
    if bookmark.option != ENABLE:
        if args["reconcile"] == "now":
            raise JobArgumentError("--reconcile now needs --job-bookmark-option job-bookmark-enable: it compares "
                                   "the source with what the bookmark says was ingested")
        return bookmark
    run_id = job.new_run_id()
    result = ReconciliationRun(job.spark, reader, zone, bookmark, run_id, tables,
                               glue_job_run_id=job.glue_job_run_id).run()
    register_in_catalog(args, zone, bookmark, run_id)
    bookmark.commit(run_id)
    log_event(logger, "reconciliation committed", run_id=run_id, tables=result.summary())
    return JobBookmark(zone, bookmark.job_name, bookmark.option)


def ingest(job: JobContext) -> Finished:
    args = job.args
    policy, tables, rewind = job.options
    zone = ZoneStore.for_uri(args["ingestion_zone"])
    bookmark = JobBookmark(zone, args["JOB_NAME"], args["job_bookmark_option"])
    credentials = get_database_credentials(args["source_secret_id"])
    log_event(logger, "job started", source=credentials.describe(), zone=zone.uri,
              job_bookmark_option=bookmark.option,
              **({"rewind": rewind.table.name} if rewind else {"tables": [table.name for table in tables]}))
    reader = SourceReader(job.glue_context, credentials)
    if rewind is not None:
        run_id = job.new_run_id()
        result = RewindRun(job.spark, reader, zone, bookmark, run_id, rewind,
                           glue_job_run_id=job.glue_job_run_id).run()
    else:
        bookmark = reconcile_first(job, zone, bookmark, reader, tables)
        # After the reconciliation: run ids order the manifests, and the delta comes second.
        run_id = job.new_run_id()
        result = IngestionRun(spark=job.spark, reader=reader, zone=zone, bookmark=bookmark, run_id=run_id,
                              tables=tables, policy=policy, glue_job_run_id=job.glue_job_run_id).run()
    register_in_catalog(args, zone, bookmark, run_id)
    return Finished(result, bookmark, run_id, summary=dict(
        rows=result.total_rows, manifest=result.manifest_key,
        tables={r.table: {"rows": r.rows, "status": r.status} for r in result.tables}))


JOB = GlueJob(REQUIRED_ARGS, OPTIONAL_ARGS, checks=ingest_checks, run=ingest, logger=logger, options=ingest_options)


def main(argv: list[str] | None = None) -> IngestionResult:
    return JOB.main(argv)


if __name__ == "__main__":
    main()
