"""Parquet files in a zone: writing a DataFrame and saying exactly what was written; reading footers cheaply.

Footers (schema, row count) are read with pyarrow on the driver: no Spark job, which on small batches costs
more than the work itself. ``pyarrow.fs`` opens ``file://`` and ``s3://`` URIs alike.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pa_fs
import pyarrow.parquet as pq
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from totes.zones import ZoneStore


class ParquetReadError(Exception):
    """A parquet file cannot be opened or decoded; the message starts with its URI."""


@dataclass(frozen=True)
class WrittenOutput:
    files: list[str]  # keys relative to the zone root
    rows: int


def _open(uri: str) -> tuple[pa_fs.FileSystem, str]:
    return pa_fs.FileSystem.from_uri(uri)


def parquet_row_count(uri: str) -> int:
    filesystem, path = _open(uri)
    return pq.read_metadata(path, filesystem=filesystem).num_rows


def parquet_schema(uri: str) -> pa.Schema:
    filesystem, path = _open(uri)
    return pq.read_schema(path, filesystem=filesystem)


def _naive_utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.timezone.utc).replace(tzinfo=None) if value.tzinfo else value


def rows_stamped_after(uris: list[str], columns: tuple[str, ...], stamp_column: str, after: dt.datetime,
                       limit: int) -> list[tuple] | None:
    """The ``columns`` of the rows whose ``stamp_column`` is later than ``after`` (naive UTC), or None when there
    are more than ``limit`` of them.

    Read on the driver, no Spark job. A row group whose footer statistics say it ends at or before ``after`` is
    not read at all, and the reading stops at the first row group that passes the limit, so what is held is one
    row group of ``columns`` and at most ``limit`` rows as Python values, whatever the size of the files.
    """
    found: list[tuple] = []
    for uri in uris:
        try:
            filesystem, path = _open(uri)
            parquet = pq.ParquetFile(path, filesystem=filesystem)
            stamp_index = parquet.schema_arrow.get_field_index(stamp_column)
            if stamp_index < 0:
                raise ParquetReadError(f"{uri}: has no column {stamp_column}")
            for group in range(parquet.metadata.num_row_groups):
                statistics = parquet.metadata.row_group(group).column(stamp_index).statistics
                if statistics is not None and statistics.has_min_max and _naive_utc(statistics.max) <= after:
                    continue
                rows = parquet.read_row_group(group, columns=list(dict.fromkeys([*columns, stamp_column])))
                stamps = rows.column(stamp_column)
                later = pc.greater(stamps, pa.scalar(after.replace(tzinfo=dt.timezone.utc)
                                                     if getattr(stamps.type, "tz", None) else after, stamps.type))
                rows = rows.filter(later)
                if len(found) + rows.num_rows > limit:
                    return None
                found.extend(zip(*(_python_values(rows.column(name)) for name in columns)))
        except (OSError, pa.ArrowException) as error:
            raise ParquetReadError(f"{uri}: {error}") from None
    return found


def _python_values(column: pa.ChunkedArray) -> list:
    """Timestamps as naive UTC datetimes (what the source's ``timestamp`` columns hold), the rest as they are."""
    values = column.to_pylist()
    if pa.types.is_timestamp(column.type):
        return [value if value is None else _naive_utc(value) for value in values]
    return values


def arrow_type(spark_type: T.DataType) -> pa.DataType:
    """The physical type Spark writes for a Spark type (timestamps as UTC-adjusted microseconds)."""
    if isinstance(spark_type, T.DecimalType):
        return pa.decimal128(spark_type.precision, spark_type.scale)
    return {
        T.IntegerType(): pa.int32(),
        T.ShortType(): pa.int16(),
        T.LongType(): pa.int64(),
        T.StringType(): pa.string(),
        T.BooleanType(): pa.bool_(),
        T.DateType(): pa.date32(),
        T.TimestampType(): pa.timestamp("us", tz="UTC"),
    }[spark_type]


def arrow_schema(spark_schema: T.StructType) -> pa.Schema:
    return pa.schema([pa.field(f.name, arrow_type(f.dataType), f.nullable) for f in spark_schema.fields])


def run_id_of_input_file() -> Column:
    """The run that wrote the file each row was read from: every zone names its run folders run_id=<run id>,
    and run ids sort by time, so this orders copies of one row from older to newer."""
    return F.regexp_extract(F.input_file_name(), r"run_id=([^/]+)", 1)


def write_parquet(spark: SparkSession, df: DataFrame, zone: ZoneStore, prefix: str,
                  partition_by: tuple[str, ...] = ()) -> WrittenOutput:
    """Write ``df`` under ``prefix`` (which must not exist yet) and return its files and row count.

    The count comes from the footers just written, not from a second evaluation of ``df``. An empty result
    leaves no folder behind, so "nothing new" really writes nothing.
    """
    writer = df.write.mode("errorifexists")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    writer.parquet(zone.uri_of(prefix))
    files = [key for key in zone.list_keys(prefix) if key.endswith(".parquet")]
    rows = sum(parquet_row_count(zone.uri_of(key)) for key in files)
    if rows == 0:
        zone.delete_prefix(prefix)
        files = []
    return WrittenOutput(files, rows)
