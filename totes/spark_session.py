"""The Spark SQL settings every job sets on its session, on Glue and locally alike.

Spark's defaults differ from what the pipeline's contracts need, and a Glue job gets Spark's defaults: each job
script sets these on its session at start (they are runtime settings), and the local runtime starts its
SparkSession with them too (``totes.local.spark``), so both runtimes write the same files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the local runtime reads PIPELINE_SQL_CONF before it imports pyspark
    from pyspark.sql import SparkSession

# Iceberg's SQL (MERGE, CALL) for the processed zone: a static setting, given at the session's start (Terraform's
# --conf for the Glue jobs, totes.local.spark locally); totes.iceberg refuses a session without it.
ICEBERG_SQL_EXTENSIONS = "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"

PIPELINE_SQL_CONF = {
    # The source's timestamps have no time zone: a UTC session keeps their wall-clock value from the JDBC read
    # to the parquet files and the warehouse (the JVM's own zone, UTC on Glue, is pinned locally).
    "spark.sql.session.timeZone": "UTC",
    # INT96 is Spark's legacy default; the ingestion contract (checked from the footers), Athena, DuckDB and
    # pyarrow all expect microsecond timestamps.
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
}


def use_pipeline_sql_conf(spark: SparkSession) -> None:
    for key, value in PIPELINE_SQL_CONF.items():
        spark.conf.set(key, value)
