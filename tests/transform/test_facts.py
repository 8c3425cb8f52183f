"""Facts: one row per staged row (no aggregation), the star columns and types."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from chispa import assert_df_equality
from pyspark.sql import types as T

from tests.transform.rows import (
    any_row_order,
    frame,
    good_row,
    ingested_schema,
    names_and_types,
    null_row,
    staged_df,
)
from totes.star import FACT_PAYMENT, FACT_PURCHASE_ORDER, FACT_SALES_ORDER
from totes.tables import source_table
from totes.transform.facts import (
    FACT_BUILDERS,
    fact_payment,
    fact_purchase_order,
    fact_sales_order,
    date_bounds,
)
from totes.transform.staging import stage

def _nullable(schema: T.StructType) -> T.StructType:
    return T.StructType([T.StructField(f.name, f.dataType, True) for f in schema.fields])


@pytest.mark.parametrize("source", FACT_BUILDERS)
def test_each_fact_has_exactly_the_star_columns(spark, source):
    fact, build = FACT_BUILDERS[source]
    table = source_table(source)
    staged = frame(spark, [], ingested_schema(table)).transform(stage(table))

    fact_df = build(staged)

    assert names_and_types(fact_df.schema) == names_and_types(fact.spark_schema)


def test_fact_sales_order_maps_a_staged_row_and_renames_staff_id_to_sales_staff_id(spark):
    staged = staged_df(
        spark, "sales_order",
        good_row("sales_order", sales_order_id=1, created_at=dt.datetime(2024, 11, 5, 23, 59, 59, 999000),
                 last_updated=dt.datetime(2024, 11, 6, 8, 0, 0, 5000), staff_id=12, counterparty_id=7,
                 design_id=3, units_sold=42972, unit_price=Decimal("3.94"), currency_id=2,
                 agreed_payment_date="2024-11-08", agreed_delivery_date="2024-11-07",
                 agreed_delivery_location_id=8),
        null_row("sales_order", sales_order_id=2),
    )

    fact_df = fact_sales_order(staged)

    expected = frame(
        spark,
        [(1, dt.date(2024, 11, 5), "23:59:59.999", dt.date(2024, 11, 6), "08:00:00.005", 12, 7, 42972,
          Decimal("3.94"), 2, 3, dt.date(2024, 11, 8), dt.date(2024, 11, 7), 8),
         (2, *([None] * 13))],
        _nullable(FACT_SALES_ORDER.spark_schema),
    )
    assert_df_equality(fact_df, expected, ignore_nullable=True, transforms=any_row_order())


def test_fact_purchase_order_maps_a_staged_row(spark):
    staged = staged_df(
        spark, "purchase_order",
        good_row("purchase_order", purchase_order_id=1, created_at=dt.datetime(2023, 1, 31, 0, 0, 0),
                 last_updated=dt.datetime(2023, 2, 1, 12, 30, 15, 250000), staff_id=4, counterparty_id=9,
                 item_code="ZDOI5EA", item_quantity=371, item_unit_price=Decimal("361.39"), currency_id=1,
                 agreed_delivery_date="2023-02-09", agreed_payment_date="2023-02-07",
                 agreed_delivery_location_id=6),
        null_row("purchase_order", purchase_order_id=2),
    )

    fact_df = fact_purchase_order(staged)

    expected = frame(
        spark,
        [(1, dt.date(2023, 1, 31), "00:00:00.000", dt.date(2023, 2, 1), "12:30:15.250", 4, 9, "ZDOI5EA", 371,
          Decimal("361.39"), 1, dt.date(2023, 2, 9), dt.date(2023, 2, 7), 6),
         (2, *([None] * 13))],
        _nullable(FACT_PURCHASE_ORDER.spark_schema),
    )
    assert_df_equality(fact_df, expected, ignore_nullable=True, transforms=any_row_order())


def test_fact_payment_keeps_every_version_of_a_payment_as_its_own_row(spark):
    # The unpaid version and the later paid version are two facts; nothing is aggregated or de-duplicated.
    unpaid = good_row("payment", payment_id=1, created_at=dt.datetime(2024, 11, 5, 10, 0, 0, 123000),
                      last_updated=dt.datetime(2024, 11, 5, 10, 0, 0, 123000), paid=False,
                      payment_amount=Decimal("169314.68"), payment_date="2024-11-06")
    paid = {**unpaid, "last_updated": dt.datetime(2024, 11, 6, 9, 15, 0, 0), "paid": True}
    staged = staged_df(spark, "payment", unpaid, paid, paid, null_row("payment", payment_id=2))

    fact_df = fact_payment(staged)

    version = (1, dt.date(2024, 11, 5), "10:00:00.123")
    rest = (1, 1, Decimal("169314.68"), 1, 1)
    expected = frame(
        spark,
        [(*version, dt.date(2024, 11, 5), "10:00:00.123", *rest, False, dt.date(2024, 11, 6)),
         (*version, dt.date(2024, 11, 6), "09:15:00.000", *rest, True, dt.date(2024, 11, 6)),
         (*version, dt.date(2024, 11, 6), "09:15:00.000", *rest, True, dt.date(2024, 11, 6)),
         (2, *([None] * 11))],
        _nullable(FACT_PAYMENT.spark_schema),
    )
    assert_df_equality(fact_df, expected, ignore_nullable=True, transforms=any_row_order())


def test_date_range_spans_every_date_column_and_ignores_nulls(spark):
    fact_df = frame(
        spark,
        # The earliest date is an agreed date, the latest a last_updated date: every date column counts.
        [(1, dt.date(2024, 11, 5), dt.date(2024, 11, 6), dt.date(2024, 10, 1), dt.date(2024, 11, 7)),
         (2, dt.date(2024, 11, 8), dt.date(2025, 1, 3), None, dt.date(2024, 12, 24)),
         (3, None, None, None, None)],
        "sales_order_id int, created_date date, last_updated_date date, agreed_payment_date date, "
        "agreed_delivery_date date",
    )

    assert date_bounds(fact_df, FACT_SALES_ORDER) == (3, dt.date(2024, 10, 1), dt.date(2025, 1, 3))


def test_date_range_of_payments_counts_the_payment_date(spark):
    fact_df = fact_payment(staged_df(
        spark, "payment",
        good_row("payment", payment_id=1, created_at=dt.datetime(2024, 11, 5),
                 last_updated=dt.datetime(2024, 11, 5), payment_date="2024-12-31"),
        good_row("payment", payment_id=2, created_at=dt.datetime(2024, 11, 4),
                 last_updated=dt.datetime(2024, 11, 5), payment_date="2024-13-01"),
        null_row("payment", payment_id=3)))

    assert date_bounds(fact_df, FACT_PAYMENT) == (3, dt.date(2024, 11, 4), dt.date(2024, 12, 31))


def test_date_range_of_rows_whose_dates_are_all_null_is_none(spark):
    fact_df = frame(spark, [(1, None, None, None, None)],
                    "purchase_order_id int, created_date date, last_updated_date date, agreed_delivery_date date, "
                    "agreed_payment_date date")

    assert date_bounds(fact_df, FACT_PURCHASE_ORDER) == (1, None, None)
