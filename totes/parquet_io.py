"""Writing a DataFrame as parquet under a zone prefix and saying exactly what was written."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession

from totes.zones import ZoneStore


@dataclass(frozen=True)
class WrittenOutput:
    files: list[str]  # keys relative to the zone root
    rows: int


def write_parquet(spark: SparkSession, df: DataFrame, zone: ZoneStore, prefix: str,
                  partition_by: tuple[str, ...] = ()) -> WrittenOutput:
    """Write ``df`` under ``prefix`` (which must not exist yet) and return its files and row count.

    The count comes from the parquet footers just written, not from a second evaluation of ``df``. An empty
    result leaves no folder behind, so "nothing new" really writes nothing.
    """
    writer = df.write.mode("errorifexists")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    writer.parquet(zone.uri_of(prefix))
    files = [key for key in zone.list_keys(prefix) if key.endswith(".parquet")]
    rows = spark.read.parquet(*(zone.uri_of(key) for key in files)).count() if files else 0
    if rows == 0:
        zone.delete_prefix(prefix)
        files = []
    return WrittenOutput(files, rows)
