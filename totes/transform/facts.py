"""Facts: one row per version of a source row, with the columns of totes/star.py.

Input: the staged rows that passed the quality rules. Nothing is aggregated: a payment marked paid later is a
second row, its unpaid version stays (the warehouse keeps history).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from totes.star import FACT_PAYMENT, FACT_PURCHASE_ORDER, FACT_SALES_ORDER, StarTable

# Facts are partitioned by the month their rows were created in: what queries filter on, and a partition count
# that grows with the data's calendar, not with the number of runs.
FACT_PARTITION_SPEC = "months(created_date)"


def _star_select(fact: StarTable, expressions: dict[str, Column]) -> list[Column]:
    """The fact's declared columns, cast to their declared types."""
    return [
        expressions.get(column.name, F.col(column.name)).cast(column.spark_type).alias(column.name)
        for column in fact.columns
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



def date_bounds(fact_df: DataFrame, fact: StarTable):
    """One aggregation: the fact's rows, and the earliest and latest date any of its date columns refers to
    (NULLs ignored; None without any date): the calendar dim_date must cover."""
    dates = DATE_COLUMNS[fact.name]
    row = fact_df.agg(F.count(F.lit(1)).alias("rows"), F.least(*(F.min(c) for c in dates)).alias("first"),
                      F.greatest(*(F.max(c) for c in dates)).alias("last")).first()
    return row["rows"], row["first"], row["last"]
