"""Small DataFrames built inside the JVM.

``spark.createDataFrame(<Python rows>)`` ships pickled rows that only a Python worker process can read: the first
one a job needs starts that worker (measured here: 1.1 s for two rows in a fresh session, 0.2 s after). Nothing
else in the jobs runs Python on the executors, so these frames are built from SQL text and column literals.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T


def empty_frame(spark: SparkSession, schema: T.StructType) -> DataFrame:
    """No rows, the columns and types of ``schema`` (every column nullable)."""
    return spark.range(0).select(*(F.lit(None).cast(f.dataType).alias(f.name) for f in schema.fields))


def _sql_string(value: str) -> str:
    # Spark substitutes ${...} in SQL text before parsing (spark.sql.variable.substitute): a "$" written as the
    # literal's unicode escape never starts a variable and reads back as "$".
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("$", "\\u0024")
    return "'" + escaped + "'"


def string_rows_frame(spark: SparkSession, rows: Iterable[Sequence[str]], column_names: Sequence[str]) -> DataFrame:
    """A frame of string columns from Python rows, as one ``VALUES`` list (one call into the JVM, however many rows)."""
    values = ", ".join("(" + ", ".join(_sql_string(value) for value in row) + ")" for row in rows)
    if not values:
        return empty_frame(spark, T.StructType([T.StructField(name, T.StringType()) for name in column_names]))
    return spark.sql(f"SELECT * FROM VALUES {values} AS rows({', '.join(column_names)})")
