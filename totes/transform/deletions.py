"""Source rows reconciliations found deleted, recorded in the deletion table on their first detection.

Nothing is removed anywhere (README, "Reconciliation": the delete policy); a row re-detected (a reconciliation
killed before its bookmark, then run again) keeps its first detection.
"""

from __future__ import annotations

import logging
from functools import reduce

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from totes.logs import log_event
from totes.manifests import TableOutput
from totes.star import SOURCE_DELETION
from totes.tables import DELETION_SCHEMA
from totes.transform.commits import RunCommits, inserted_and_rewritten
from totes.transform.staging import time_of_day
from totes.zones import ZoneStore

logger = logging.getLogger("totes.transform")


def first_detections(spark: SparkSession, ingestion_zone: ZoneStore, found: list[tuple[str, str]]) -> DataFrame:
    """The deletion table's rows of the deletion records ``found`` ((source table, file key) pairs): one per
    source row, its earliest detection."""
    new_df = reduce(DataFrame.unionByName, [
        spark.read.schema(DELETION_SCHEMA).parquet(*(ingestion_zone.uri_of(k) for n, k in found if n == name))
        .select(F.lit(name).alias("source_table"), "source_id",
                F.to_date("last_updated").alias("last_updated_date"),
                time_of_day(F.col("last_updated")).alias("last_updated_time"),
                F.to_date("detected_at").alias("detected_date"),
                time_of_day(F.col("detected_at")).alias("detected_time"))
        for name in dict.fromkeys(n for n, _ in found)])
    first_detection = Window.partitionBy("source_table", "source_id").orderBy("detected_date", "detected_time")
    return (new_df.withColumn("_n", F.row_number().over(first_detection)).where(F.col("_n") == 1)
            .select(*SOURCE_DELETION.column_names))


def record_deletions(commits: RunCommits, ingestion_zone: ZoneStore, found: list[tuple[str, str]]) -> TableOutput | None:
    """Add the first detections among ``found`` to the deletion table; None when there is nothing to add."""
    if not found or commits.covers_inputs(SOURCE_DELETION.name):
        return None
    deletions_df = first_detections(commits.spark, ingestion_zone, found)
    before = commits.snapshot(SOURCE_DELETION.name)
    after = commits.merge(SOURCE_DELETION.name, deletions_df, SOURCE_DELETION.natural_key)
    inserted, _ = inserted_and_rewritten(before, after)
    log_event(logger, "source deletions recorded", logging.WARNING, rows=inserted,
              tables=sorted(dict.fromkeys(n for n, _ in found)))
    return TableOutput(SOURCE_DELETION.name, inserted, details={"status": "written", "inserted": inserted})
