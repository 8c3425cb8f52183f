"""Data contracts the transformation job enforces; a systemic violation fails the run with what was found."""

from __future__ import annotations

from functools import reduce

import pyarrow as pa
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from totes.tables import expected_spark_schema
from totes.parquet_io import arrow_schema, parquet_schema
from totes.star import StarTable
from totes.tables import SourceTable

MAX_KEYS_SHOWN = 10


class TransformContractError(RuntimeError):
    """Base class: the input breaks a contract the job cannot work around; the bookmark does not move."""


class InputSchemaError(TransformContractError):
    """Files in the ingestion zone do not have the columns and types the ingestion contract promises."""


class InputReadError(TransformContractError):
    """An input file listed by a committed manifest cannot be read (corrupt, truncated, missing)."""


class TableCommitError(RuntimeError):
    """A processed table's commit failed (a conflict the retries could not resolve, a catalog refusing it)."""


class MandatoryDimensionEmptyError(TransformContractError):
    """A table every fact depends on has no rows at all."""


class BlankDimensionValueError(TransformContractError):
    """A dimension row has a blank ('' or spaces) in a text column the warehouse requires a value in."""


class UnresolvedDimensionParentError(TransformContractError):
    """A dimension row's parent (a staff member's department, a counterparty's address) does not exist."""


def check_input_schema(table: SourceTable, files: list[str], uri_of) -> None:
    """Every file's footer must carry exactly the ingestion contract: same columns, same types.

    Read from the footers (no Spark job): a file that lacks a column would otherwise read as NULLs.
    """
    expected = arrow_schema(expected_spark_schema(table))
    for key in files:
        try:
            found = parquet_schema(uri_of(key))
        except (OSError, pa.ArrowException) as error:  # truncated, not parquet, unreadable
            raise InputSchemaError(f"ingested {table.name} file {key} cannot be read as parquet: "
                                   f"{' '.join(str(error).split())}") from None
        problems = [f"{f.name} is missing" for f in expected if f.name not in found.names]
        problems += [f"{f.name} is {found.field(f.name).type}, expected {f.type}"
                     for f in expected if f.name in found.names and not found.field(f.name).type.equals(f.type)]
        problems += [f"{name} is not in the contract" for name in found.names if name not in expected.names]
        if problems:
            raise InputSchemaError(
                f"ingested {table.name} file {key} does not match the ingestion contract: {'; '.join(problems)}")


def _version_keys(table: SourceTable) -> list[str]:
    return [table.primary_key, "last_updated"]


def one_row_per_version(table: SourceTable, newer_first: str | None = None):
    """One row per version (primary key, last_updated): of several copies, the one ingested last.

    Copies of one version come from a re-ingestion (a reset, a disabled bookmark) or from a reconciliation,
    which re-ingests a row edited in the source without moving ``last_updated``: the later copy is the
    source's current content. ``newer_first``: a column that is larger for later copies (e.g. the ingestion run
    id); without it the copies are taken to be identical and any one is kept.
    """

    def collapse(ingested_df: DataFrame) -> DataFrame:
        order = ([F.col(newer_first).desc()] if newer_first else []) + list(table.column_names)
        window = Window.partitionBy(*_version_keys(table)).orderBy(*order)
        return (ingested_df.withColumn("_copy", F.row_number().over(window))
                .where(F.col("_copy") == 1).select(*table.column_names))

    return collapse


def latest_versions(table: SourceTable, newer_first: str | None = None):
    """The current state of a table: the latest version of each row (largest last_updated; of two copies of
    that version, the one with the larger ``newer_first``)."""

    def latest(ingested_df: DataFrame) -> DataFrame:
        order = [F.col("last_updated").desc()] + ([F.col(newer_first).desc()] if newer_first else [])
        window = Window.partitionBy(table.primary_key).orderBy(*order, *table.column_names)
        return (ingested_df.withColumn("_recency", F.row_number().over(window))
                .where(F.col("_recency") == 1).select(*table.column_names))

    return latest


def require_resolved(dimension: str, df: DataFrame, key: str, parent_column: str, parent: str) -> None:
    """Every row of a dimension must have found its parent row; lists the rows that did not."""
    unresolved = df.where(F.col(parent_column).isNull()).select(key).limit(MAX_KEYS_SHOWN).collect()
    if unresolved:
        keys = ", ".join(str(row[0]) for row in unresolved)
        raise UnresolvedDimensionParentError(f"{dimension}: no {parent} row for {key} {keys}")


def require_no_blanks(dimension: StarTable, df: DataFrame) -> None:
    """No row of a dimension has a blank in a required text column; lists the keys of those that do.

    A fact row with a blank is quarantined (quality.py, ``blank_value``); a dimension row cannot be, since every
    fact referring to it would then be held as ``missing_parent``, so a blank there fails the run, as a missing
    parent does: the source broke its contract and the warehouse would show '' as a name.
    """
    required = [c.name for c in dimension.columns if c.pg_type == "text" and not c.nullable]
    if not required:
        return
    (key,) = dimension.natural_key
    blank = reduce(lambda a, b: a | b, [F.trim(F.col(name)) == "" for name in required])
    found = df.where(blank).select(key, *required).limit(MAX_KEYS_SHOWN).collect()
    if found:
        rows = "; ".join(f"{key} {row[key]}: " + ", ".join(name for name in required
                                                           if row[name] is not None and not row[name].strip())
                         for row in found)
        raise BlankDimensionValueError(f"{dimension.name}: blank values in required columns ({rows})")
