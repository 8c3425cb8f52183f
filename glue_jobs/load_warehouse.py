"""Glue job: load the committed transform runs from the processed zone into the star-schema warehouse.

The same script runs on AWS Glue 5.1 and locally (``local_glue/awsglue`` emulates the subset used here).
Every transform run committed after the job's bookmark is loaded as one batch, in one warehouse transaction:
dimensions upserted in place, facts appended idempotently on (source id, last_updated); see
``totes/warehouse/run.py`` for the order of effects and why a rerun after any failure is safe.

Job arguments:
    --JOB_NAME              Glue job name; names the bookmark and the manifests (totesys-load)
    --processed-zone        zone URI: s3://bucket/prefix on AWS, file:///... locally
    --warehouse-secret-id   secret with the loader's warehouse credentials (Secrets Manager; a local file when
                            TOTES_LOCAL_SECRETS_DIR is set)
    --job-bookmark-option   job-bookmark-enable | job-bookmark-disable (Glue's default: reload every transform
                            run, harmless) | job-bookmark-pause
Optional:
    --catalog-database      the processed zone's catalog database: the Iceberg tables' namespace
                            (default totesys_processed)
    --processed-catalog     glue (the Glue Data Catalog, the default) | jdbc:<secret id> (the local stack)
    --transform-job-name    whose manifests to load (default: totesys-transform)
    --ingestion-zone        zone URI of the ingestion manifests; with it, each run measures the freshness lag it
                            achieved (README, "Freshness")
    --ingest-job-name       whose ingestion manifests those are (default: totesys-ingest)
    --freshness-metric-namespace, --freshness-metric-name
                            the CloudWatch metric the lag is published as (Terraform sets both; locally unset)
"""

from __future__ import annotations

import logging

from totes.bookmarks import JobBookmark
from totes.freshness import FreshnessLedger, FreshnessMetric, FreshnessReporter
from totes.glue_job import Finished, GlueJob, JobContext
from totes.logs import log_event
from totes.preflight.databases import load_checks
from totes.secrets import get_database_credentials
from totes.settings import INGEST_JOB_NAME, PROCESSED_DATABASE, TRANSFORM_JOB_NAME
from totes.warehouse.run import LoadResult, LoadRun
from totes.zones import ZoneStore

logger = logging.getLogger("totes.warehouse")

REQUIRED_ARGS = ["JOB_NAME", "processed-zone", "warehouse-secret-id"]
OPTIONAL_ARGS = {"transform-job-name": TRANSFORM_JOB_NAME, "catalog-database": PROCESSED_DATABASE,
                 "processed-catalog": "glue", "ingestion-zone": "", "ingest-job-name": INGEST_JOB_NAME,
                 "freshness-metric-namespace": "", "freshness-metric-name": ""}


def load(job: JobContext) -> Finished:
    args = job.args
    run_id = job.new_run_id()
    zone = ZoneStore.for_uri(args["processed_zone"])
    bookmark = JobBookmark(zone, args["JOB_NAME"], args["job_bookmark_option"])
    credentials = get_database_credentials(args["warehouse_secret_id"])
    log_event(logger, "job started", warehouse=credentials.describe(), zone=zone.uri,
              job_bookmark_option=bookmark.option)
    result = LoadRun(
        spark=job.spark,
        zone=zone,
        catalog=job.catalog,
        bookmark=bookmark,
        credentials=credentials,
        run_id=run_id,
        glue_job_run_id=job.glue_job_run_id,
        transform_job_name=args["transform_job_name"],
        freshness=freshness_reporter(args, zone),
    ).run()
    return Finished(result, bookmark, run_id, summary=dict(
        manifest=result.manifest_key, transform_runs=result.batch_run_ids,
        tables={load.table: {"inserted": load.inserted, "updated": load.updated} for load in result.tables}))


def freshness_reporter(args: dict, processed_zone: ZoneStore) -> FreshnessReporter | None:
    if not args["ingestion_zone"]:
        return None
    ledger = FreshnessLedger(processed_zone, ZoneStore.for_uri(args["ingestion_zone"]), args["JOB_NAME"],
                             args["transform_job_name"], args["ingest_job_name"])
    metric = None
    if args["freshness_metric_namespace"] and args["freshness_metric_name"]:
        metric = FreshnessMetric(args["freshness_metric_namespace"], args["freshness_metric_name"])
    return FreshnessReporter(ledger, metric)


JOB = GlueJob(REQUIRED_ARGS, OPTIONAL_ARGS, checks=load_checks, run=load, logger=logger, processed_catalog=True,
              left_as_it_was="warehouse rolled back, bookmark not advanced")


def main(argv: list[str] | None = None) -> LoadResult:
    return JOB.main(argv)


if __name__ == "__main__":
    main()
