"""Facts: one row per version of a source row, with the columns of totes/star.py and the partition columns.

Input: the staged rows that passed the quality rules. Nothing is aggregated: a payment marked paid later is a
second row, its unpaid version stays (the warehouse keeps history).
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from totes.parquet_io import column_bounds
from totes.star import FACT_PAYMENT, FACT_PURCHASE_ORDER, FACT_SALES_ORDER, StarTable

FACT_PARTITIONS_BY_ROW = ("created_year", "created_month")


def _star_select(fact: StarTable, expressions: dict[str, Column]) -> list[Column]:
    """The fact's declared columns, cast to their declared types, then its row-level partition columns."""
    columns = [
        expressions.get(column.name, F.col(column.name)).cast(column.spark_type).alias(column.name)
        for column in fact.columns
    ]
    return columns + [
        F.year("created_date").alias("created_year"),
        F.month("created_date").alias("created_month"),
    ]


def fact_sales_order(staged_sales_order_df: DataFrame) -> DataFrame:
    """Grain: one row per sales order version."""
    return staged_sales_order_df.select(*_star_select(FACT_SALES_ORDER, {"sales_staff_id": F.col("staff_id")}))


def fact_purchase_order(staged_purchase_order_df: DataFrame) -> DataFrame:
    """Grain: one row per purchase order version."""
    return staged_purchase_order_df.select(*_star_select(FACT_PURCHASE_ORDER, {}))


def fact_payment(staged_payment_df: DataFrame) -> DataFrame:
    """Grain: one row per payment version."""
    return staged_payment_df.select(*_star_select(FACT_PAYMENT, {}))


FACT_BUILDERS = {
    "sales_order": (FACT_SALES_ORDER, fact_sales_order),
    "purchase_order": (FACT_PURCHASE_ORDER, fact_purchase_order),
    "payment": (FACT_PAYMENT, fact_payment),
}

# The columns of each fact that refer to dim_date: what dim_date must cover.
DATE_COLUMNS: dict[str, tuple[str, ...]] = {
    fact.name: tuple(c.name for c in fact.columns if c.references == "dim_date")
    for fact in (FACT_SALES_ORDER, FACT_PURCHASE_ORDER, FACT_PAYMENT)
}


def written_date_range(uris: list[str], fact: StarTable) -> tuple[dt.date | None, dt.date | None]:
    """The earliest and latest date any date column of a written fact refers to (None, None without one).

    From the files' footers: a Spark aggregation here was one more job per fact on every run.
    """
    return column_bounds(uris, DATE_COLUMNS[fact.name])
