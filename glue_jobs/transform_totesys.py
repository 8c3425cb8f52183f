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
import sys

import boto3
from awsglue.context import GlueContext
from awsglue.job import Job
from pyspark.context import SparkContext

from totes import logs
from totes.bookmarks import JobBookmark
from totes.iceberg import catalog_from_args, use_catalog
from totes.job_args import resolve_args
from totes.logs import log_event
from totes.manifests import new_run_id
from totes.preflight import check_before_reading
from totes.preflight.databases import transform_checks
from totes.settings import INGEST_JOB_NAME, PROCESSED_DATABASE
from totes.spark_session import use_pipeline_sql_conf
from totes.transform.quality_metrics import log_run_quality, metric_names, publish_quality_metrics
from totes.transform.quality_report import max_quarantine_share
from totes.transform.run import TransformResult, TransformRun
from totes.zones import ZoneStore

logger = logging.getLogger("totes.transform")

REQUIRED_ARGS = ["JOB_NAME", "ingestion-zone", "processed-zone"]
OPTIONAL_ARGS = {"ingest-job-name": INGEST_JOB_NAME, "catalog-database": PROCESSED_DATABASE,
                 "processed-catalog": "glue", "max-quarantine-share": "", "quality-metric-namespace": "",
                 "quality-metric-names": ""}


def main(argv: list[str] | None = None) -> TransformResult:
    argv = sys.argv if argv is None else argv
    args = resolve_args(argv, REQUIRED_ARGS, OPTIONAL_ARGS)
    run_id = new_run_id()
    logs.configure(job=args["JOB_NAME"], run_id=run_id, glue_job_run_id=args.get("JOB_RUN_ID"))
    max_share = max_quarantine_share(args["max_quarantine_share"])
    quality_names = metric_names(args["quality_metric_names"]) if args["quality_metric_namespace"] else None
    check_before_reading(transform_checks, args, logger)  # README, "Pre-flight"

    glue_context = GlueContext(SparkContext.getOrCreate())
    use_pipeline_sql_conf(glue_context.spark_session)
    job = Job(glue_context)
    job.init(args["JOB_NAME"], args)

    catalog = catalog_from_args(args)
    use_catalog(glue_context.spark_session, catalog)
    processed_zone = ZoneStore.for_uri(args["processed_zone"])
    ingestion_zone = ZoneStore.for_uri(args["ingestion_zone"])
    bookmark = JobBookmark(processed_zone, args["JOB_NAME"], args["job_bookmark_option"])
    log_event(logger, "job started", ingestion_zone=ingestion_zone.uri, processed_zone=processed_zone.uri,
              job_bookmark_option=bookmark.option)
    try:
        result = TransformRun(
            spark=glue_context.spark_session,
            ingestion_zone=ingestion_zone,
            processed_zone=processed_zone,
            catalog=catalog,
            bookmark=bookmark,
            run_id=run_id,
            ingest_job_name=args["ingest_job_name"],
            glue_job_run_id=args.get("JOB_RUN_ID"),
        ).run()
        quality = log_run_quality(result.tables, max_share)
        if quality_names:
            publish_quality_metrics(boto3.client("cloudwatch"), args["quality_metric_namespace"], quality_names,
                                    args["JOB_NAME"], quality)
    except Exception as error:
        log_event(logger, "job failed; bookmark not advanced", logging.ERROR,
                  error_type=type(error).__name__, error=str(error))
        raise
    # Tables committed and the manifest written: only now may the bookmark move, then Glue's own commit.
    bookmark.commit(run_id)
    job.commit()
    log_event(logger, "job succeeded", manifest=result.manifest_key, inputs=len(result.inputs),
              quarantined=result.quarantined,
              tables={name: {"rows": output.rows, "status": output.details.get("status")}
                      for name, output in result.tables.items()})
    return result


if __name__ == "__main__":
    main()
