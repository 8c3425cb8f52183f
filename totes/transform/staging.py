"""Staging: one cleaned, typed frame per source table (the jaffle-shop "stg_" layer).

Input rows have the ingestion zone's schema (the source columns as ingested). Staging:

- trims every text column, and turns a blank value of a nullable column into NULL (a blank and a NULL mean the
  same "no value" in this source; keeping both would split groups in every report); a blank in a NOT NULL
  column stays '' so that the quality rules name it as blank (``blank_value``) instead of as a missing column;
- parses the text dates (``'YYYY-MM-DD'``, the columns totes/tables.py declares ``text_date``) into ``date`` columns, keeping the original text beside them as
  ``<column>_text`` so that an unparsable value is reported with what it was, never nulled silently;
- splits ``created_at`` and ``last_updated`` into the date and time-of-day columns the warehouse wants
  (times as ``'HH:mm:ss.SSS'`` text: Spark has no time type), keeping the timestamps for ordering versions;
- keeps money as ``decimal(10,2)`` and enums as text, as ingested.

Every function here is DataFrame → DataFrame and ends with a ``select`` of its declared columns.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from totes.tables import SourceTable

# \z, not $: in Java's regex $ also matches before a final line break, which then reaches to_date and fails.
ISO_DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}\z"
TIME_OF_DAY_FORMAT = "HH:mm:ss.SSS"


def trimmed(column: Column) -> Column:
    return F.trim(column)


def blank_as_null(column: Column) -> Column:
    return F.when(F.trim(column) == "", F.lit(None)).otherwise(column)


def parsed_iso_date(text: Column) -> Column:
    """A 'YYYY-MM-DD' text as a date; NULL when the text is not exactly a valid calendar date."""
    # The pattern check first: to_date alone accepts '2024-1-5' and reads the date part of longer strings.
    return F.when(text.rlike(ISO_DATE_PATTERN), F.to_date(text, "yyyy-MM-dd"))


def time_of_day(timestamp: Column) -> Column:
    return F.date_format(timestamp, TIME_OF_DAY_FORMAT)


def staged_columns(table: SourceTable) -> list[str]:
    """The columns of a table's staged frame, in order."""
    columns = []
    for column in table.columns:
        columns.append(column.name)
        if column.text_date:
            columns.append(f"{column.name}_text")
    return columns + ["created_date", "created_time", "last_updated_date", "last_updated_time"]


def stage(table: SourceTable):
    """The staging transform of one source table: ``df.transform(stage(SALES_ORDER))``."""
    def stage_table(source_df: DataFrame) -> DataFrame:
        expressions = []
        for column in table.columns:
            value = F.col(column.name)
            if column.is_text:
                value = trimmed(value)
                if column.nullable:
                    value = blank_as_null(value)
            if column.text_date:
                expressions.append(value.alias(f"{column.name}_text"))
                value = parsed_iso_date(value)
            expressions.append(value.alias(column.name))
        return source_df.select(
            *expressions,
            F.to_date("created_at").alias("created_date"),
            time_of_day(F.col("created_at")).alias("created_time"),
            F.to_date("last_updated").alias("last_updated_date"),
            time_of_day(F.col("last_updated")).alias("last_updated_time"),
        ).select(*staged_columns(table))

    return stage_table


def unstage(table: SourceTable, keep: tuple[str, ...] = ()):
    """Back from a staged frame to the ingested schema (trimmed), plus the ``keep`` columns.

    Used to hold quarantined rows in the form they were ingested in, so a later run re-stages them as new.
    """
    def to_ingested(staged_df: DataFrame) -> DataFrame:
        return staged_df.select(*(
            F.col(f"{column.name}_text").alias(column.name) if column.text_date else F.col(column.name)
            for column in table.columns
        ), *keep)

    return to_ingested
