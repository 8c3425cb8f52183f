"""Glue job: build the star schema in the processed zone from the ingestion runs not yet processed.

The same script runs on AWS Glue 5.1 and locally (``local_glue/awsglue`` emulates the subset used here).

Job arguments:
    --JOB_NAME              Glue job name; names the bookmark and manifests
    --ingestion-zone        where the ingestion job writes (s3://... on AWS, file:///... locally)
    --processed-zone        where this job writes
    --job-bookmark-option   job-bookmark-enable | job-bookmark-disable (Glue's default) | job-bookmark-pause
Optional:
    --catalog-database      the processed zone's catalog database: the Iceberg tables' namespace
                            (default totesys_processed)
    --processed-catalog     glue (the Glue Data Catalog, the default) | jdbc:<secret id> (Iceberg's JDBC catalog
                            in the PostgreSQL database of that secret: the local stack)
    --ingest-job-name       the ingestion job whose manifests are the input (default totesys-ingest)
    --max-quarantine-share  a run whose quarantine share of new rows is above it alerts (default 0.05)
    --quality-metric-namespace, --quality-metric-names   where and under which names (JSON) to publish the
                            data-quality report to CloudWatch (none: not published; Terraform sets both)
"""

from __future__ import annotations

import logging

import boto3

from totes.bookmarks import JobBookmark
from totes.glue_job import Finished, GlueJob, JobContext
from totes.logs import log_event
from totes.preflight import transform_checks
from totes.settings import INGEST_JOB_NAME, PROCESSED_DATABASE
from totes.transform.quality_metrics import log_run_quality, metric_names, publish_quality_metrics
from totes.transform.quality_report import max_quarantine_share
from totes.transform.run import TransformResult, TransformRun
from totes.zones import ZoneStore

logger = logging.getLogger("totes.transform")

REQUIRED_ARGS = ["JOB_NAME", "ingestion-zone", "processed-zone"]
OPTIONAL_ARGS = {"ingest-job-name": INGEST_JOB_NAME, "catalog-database": PROCESSED_DATABASE,
                 "processed-catalog": "glue", "max-quarantine-share": "", "quality-metric-namespace": "",
                 "quality-metric-names": ""}


def quality_options(args: dict) -> tuple:
    """The quarantine share that alerts, and the metric names to publish under (None: not published)."""
    names = metric_names(args["quality_metric_names"]) if args["quality_metric_namespace"] else None
    return max_quarantine_share(args["max_quarantine_share"]), names


def transform(job: JobContext) -> Finished:
    args = job.args
    max_share, quality_names = job.options
    run_id = job.new_run_id()
    processed_zone = ZoneStore.for_uri(args["processed_zone"])
    ingestion_zone = ZoneStore.for_uri(args["ingestion_zone"])
    bookmark = JobBookmark(processed_zone, args["JOB_NAME"], args["job_bookmark_option"])
    log_event(logger, "job started", ingestion_zone=ingestion_zone.uri, processed_zone=processed_zone.uri,
              job_bookmark_option=bookmark.option)
    result = TransformRun(
        spark=job.spark,
        ingestion_zone=ingestion_zone,
        processed_zone=processed_zone,
        catalog=job.catalog,
        bookmark=bookmark,
        run_id=run_id,
        ingest_job_name=args["ingest_job_name"],
        glue_job_run_id=job.glue_job_run_id,
    ).run()
    quality = log_run_quality(result.tables, max_share)
    if quality_names:
        publish_quality_metrics(boto3.client("cloudwatch"), args["quality_metric_namespace"], quality_names,
                                args["JOB_NAME"], quality)
    return Finished(result, bookmark, run_id, summary=dict(
        manifest=result.manifest_key, inputs=len(result.inputs), quarantined=result.quarantined,
        tables={name: {"rows": output.rows, "status": output.details.get("status")}
                for name, output in result.tables.items()}))


JOB = GlueJob(REQUIRED_ARGS, OPTIONAL_ARGS, checks=transform_checks, run=transform, logger=logger,
              options=quality_options, processed_catalog=True)


def main(argv: list[str] | None = None) -> TransformResult:
    return JOB.main(argv)


if __name__ == "__main__":
    main()
