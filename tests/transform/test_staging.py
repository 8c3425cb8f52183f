"""Staging: trimmed text, blank as NULL where NULL is allowed, parsed text dates, split timestamps.

Money stays exact decimal(10,2) and enums stay text.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from chispa import assert_column_equality, assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql import types as T

from tests.transform.rows import (
    any_row_order,
    frame,
    good_row,
    ingested_df,
    ingested_schema,
    names_and_types,
    null_row,
)
from totes.tables import expected_spark_schema
from totes.tables import (
    ADDRESS,
    PAYMENT,
    PAYMENT_TYPE,
    PURCHASE_ORDER,
    SALES_ORDER,
    SOURCE_TABLES,
    TRANSACTION,
)
from totes.transform.staging import parsed_iso_date, stage, staged_columns, unstage

FACT_SOURCES = (SALES_ORDER, PURCHASE_ORDER, PAYMENT)


def test_stage_trims_every_text_column(spark):
    source_df = ingested_df(
        spark, ADDRESS,
        good_row(ADDRESS, address_id=1, address_line_1="  6826 Herzog Via ", address_line_2=" Flat 2",
                 district="Avon  ", city=" New Patienceburgh", postal_code=" 28441 ", country="Turkey ",
                 phone=" 1803 637401 "),
        null_row(ADDRESS, address_id=2),
    )

    staged = source_df.transform(stage(ADDRESS)).select(
        "address_id", "address_line_1", "address_line_2", "district", "city", "postal_code", "country",
        "phone")

    expected = frame(
        spark,
        [(1, "6826 Herzog Via", "Flat 2", "Avon", "New Patienceburgh", "28441", "Turkey", "1803 637401"),
         (2, None, None, None, None, None, None, None)],
        "address_id int, address_line_1 string, address_line_2 string, district string, city string, "
        "postal_code string, country string, phone string",
    )
    assert_df_equality(staged, expected, ignore_nullable=True, transforms=any_row_order())


def test_blank_becomes_null_only_in_nullable_text_columns(spark):
    # address_line_2 and district may be NULL in the source; city and phone may not, so their blank stays a
    # value (for the quality rules to see) instead of silently becoming "no value".
    source_df = ingested_df(
        spark, ADDRESS,
        good_row(ADDRESS, address_id=1, address_line_2="   ", district="", city="  ", phone=""),
        good_row(ADDRESS, address_id=2, address_line_2="Flat 2", district=" Avon "),
        null_row(ADDRESS, address_id=3),
    )

    staged = source_df.transform(stage(ADDRESS)).select(
        "address_id", "address_line_2", "district", "city", "phone")

    expected = frame(
        spark,
        [(1, None, None, "", ""), (2, "Flat 2", "Avon", "New Patienceburgh", "1803 637401"),
         (3, None, None, None, None)],
        "address_id int, address_line_2 string, district string, city string, phone string",
    )
    assert_df_equality(staged, expected, ignore_nullable=True, transforms=any_row_order())


def test_enums_stay_trimmed_text(spark):
    payment_types = ingested_df(
        spark, PAYMENT_TYPE,
        good_row(PAYMENT_TYPE, payment_type_id=1, payment_type_name=" SALES_REFUND "),
        null_row(PAYMENT_TYPE, payment_type_id=2),
    ).transform(stage(PAYMENT_TYPE)).select("payment_type_id", "payment_type_name")
    transactions = ingested_df(
        spark, TRANSACTION,
        good_row(TRANSACTION, transaction_id=1, transaction_type="PURCHASE ", sales_order_id=None,
                 purchase_order_id=7),
        null_row(TRANSACTION, transaction_id=2),
    ).transform(stage(TRANSACTION)).select("transaction_id", "transaction_type", "sales_order_id",
                                          "purchase_order_id")

    assert_df_equality(
        payment_types,
        frame(spark, [(1, "SALES_REFUND"), (2, None)], "payment_type_id int, payment_type_name string"),
        ignore_nullable=True, transforms=any_row_order())
    assert_df_equality(
        transactions,
        frame(spark, [(1, "PURCHASE", None, 7), (2, None, None, None)],
                              "transaction_id int, transaction_type string, sales_order_id int, "
                              "purchase_order_id int"),
        ignore_nullable=True, transforms=any_row_order())


def test_text_dates_are_parsed_only_when_exactly_an_iso_calendar_date(spark):
    texts = {
        1: "2024-11-05",
        2: " 2024-11-05 ",  # padding is trimmed before parsing
        3: "2024-13-01",  # no month 13
        4: "2024-02-30",  # no 30 February
        5: "2024-1-5",  # to_date alone would accept it
        6: "05/11/2024",
        7: "2024-11-05T10:00",  # to_date alone would read the date part
        8: "",
        9: None,
        10: "2024-02-29",  # a leap day
    }
    source_df = ingested_df(spark, SALES_ORDER, *(
        good_row(SALES_ORDER, sales_order_id=key, agreed_delivery_date=text) for key, text in texts.items()))

    staged = source_df.transform(stage(SALES_ORDER)).select(
        "sales_order_id", "agreed_delivery_date", "agreed_delivery_date_text")

    expected = frame(
        spark,
        [(1, dt.date(2024, 11, 5), "2024-11-05"),
         (2, dt.date(2024, 11, 5), "2024-11-05"),
         (3, None, "2024-13-01"),
         (4, None, "2024-02-30"),
         (5, None, "2024-1-5"),
         (6, None, "05/11/2024"),
         (7, None, "2024-11-05T10:00"),
         (8, None, ""),
         (9, None, None),
         (10, dt.date(2024, 2, 29), "2024-02-29")],
        "sales_order_id int, agreed_delivery_date date, agreed_delivery_date_text string",
    )
    assert_df_equality(staged, expected, ignore_nullable=True, transforms=any_row_order())


def test_parsed_iso_date_is_null_for_a_date_followed_by_a_line_break(spark):
    texts_df = frame(spark,
                     [("2024-11-05", dt.date(2024, 11, 5)), ("2024-11-05\n", None), ("2024-11-05\r\n", None),
                      ("2024-11-05\u2028", None), (None, None)],
                     "text string, expected date")

    parsed_df = texts_df.withColumn("parsed", parsed_iso_date(F.col("text")))

    assert_column_equality(parsed_df, "parsed", "expected")


@pytest.mark.parametrize("table,date_columns", [
    (SALES_ORDER, ("agreed_delivery_date", "agreed_payment_date")),
    (PURCHASE_ORDER, ("agreed_delivery_date", "agreed_payment_date")),
    (PAYMENT, ("payment_date",)),
], ids=["sales_order", "purchase_order", "payment"])
def test_every_text_date_column_gets_a_date_and_its_original_text(spark, table, date_columns):
    source_df = ingested_df(spark, table,
                            good_row(table, **{name: "2024-11-30" for name in date_columns}),
                            good_row(table, **{table.primary_key: 2},
                                     **{name: "2024-11-31" for name in date_columns}),
                            null_row(table, **{table.primary_key: 3}))

    staged = source_df.transform(stage(table))

    for name in date_columns:
        assert staged.schema[name].dataType == T.DateType()
        assert staged.schema[f"{name}_text"].dataType == T.StringType()
        expected = frame(
            spark,
            [(1, dt.date(2024, 11, 30), "2024-11-30"), (2, None, "2024-11-31"), (3, None, None)],
            f"{table.primary_key} int, {name} date, {name}_text string")
        assert_df_equality(staged.select(table.primary_key, name, f"{name}_text"), expected,
                           ignore_nullable=True, transforms=any_row_order())


def test_created_at_and_last_updated_split_into_date_and_millisecond_time(spark):
    source_df = ingested_df(
        spark, PAYMENT,
        good_row(PAYMENT, payment_id=1, created_at=dt.datetime(2024, 11, 5, 23, 59, 59, 999000),
                 last_updated=dt.datetime(2024, 11, 6, 0, 0, 0)),
        good_row(PAYMENT, payment_id=2, created_at=dt.datetime(2022, 11, 3, 14, 20, 52, 186000),
                 last_updated=dt.datetime(2024, 2, 29, 9, 5, 7, 10000)),
        null_row(PAYMENT, payment_id=3),
    )

    staged = source_df.transform(stage(PAYMENT)).select(
        "payment_id", "created_at", "created_date", "created_time", "last_updated", "last_updated_date",
        "last_updated_time")

    expected = frame(
        spark,
        [(1, dt.datetime(2024, 11, 5, 23, 59, 59, 999000), dt.date(2024, 11, 5), "23:59:59.999",
          dt.datetime(2024, 11, 6, 0, 0, 0), dt.date(2024, 11, 6), "00:00:00.000"),
         (2, dt.datetime(2022, 11, 3, 14, 20, 52, 186000), dt.date(2022, 11, 3), "14:20:52.186",
          dt.datetime(2024, 2, 29, 9, 5, 7, 10000), dt.date(2024, 2, 29), "09:05:07.010"),
         (3, None, None, None, None, None, None)],
        "payment_id int, created_at timestamp, created_date date, created_time string, "
        "last_updated timestamp, last_updated_date date, last_updated_time string",
    )
    # The timestamps stay: versions are ordered by them.
    assert_df_equality(staged, expected, ignore_nullable=True, transforms=any_row_order())


def test_money_stays_exact_decimal_10_2(spark):
    source_df = ingested_df(
        spark, SALES_ORDER,
        good_row(SALES_ORDER, sales_order_id=1, unit_price=Decimal("99999999.99")),
        good_row(SALES_ORDER, sales_order_id=2, unit_price=Decimal("0.10")),
        null_row(SALES_ORDER, sales_order_id=3),
    )

    staged = source_df.transform(stage(SALES_ORDER)).select("sales_order_id", "unit_price")

    expected = frame(
        spark,
        [(1, Decimal("99999999.99")), (2, Decimal("0.10")), (3, None)],
        T.StructType([T.StructField("sales_order_id", T.IntegerType()),
                      T.StructField("unit_price", T.DecimalType(10, 2))]),
    )
    assert_df_equality(staged, expected, ignore_nullable=True, transforms=any_row_order())


@pytest.mark.parametrize("table,column", [(PURCHASE_ORDER, "item_unit_price"), (PAYMENT, "payment_amount")],
                         ids=["purchase_order", "payment"])
def test_every_money_column_is_staged_as_decimal_10_2(spark, table, column):
    staged = frame(spark, [], ingested_schema(table)).transform(stage(table))

    assert staged.schema[column].dataType == T.DecimalType(10, 2)


def test_staged_columns_put_each_text_beside_its_date_and_end_with_the_split_timestamps():
    assert staged_columns(SALES_ORDER) == [
        "sales_order_id", "created_at", "last_updated", "design_id", "staff_id", "counterparty_id",
        "units_sold", "unit_price", "currency_id", "agreed_delivery_date", "agreed_delivery_date_text",
        "agreed_payment_date", "agreed_payment_date_text", "agreed_delivery_location_id",
        "created_date", "created_time", "last_updated_date", "last_updated_time",
    ]
    assert staged_columns(PAYMENT) == [
        "payment_id", "created_at", "last_updated", "transaction_id", "counterparty_id", "payment_amount",
        "currency_id", "payment_type_id", "paid", "payment_date", "payment_date_text", "company_ac_number",
        "counterparty_ac_number", "created_date", "created_time", "last_updated_date", "last_updated_time",
    ]
    assert staged_columns(ADDRESS) == [*ADDRESS.column_names, "created_date", "created_time",
                                       "last_updated_date", "last_updated_time"]


@pytest.mark.parametrize("table", SOURCE_TABLES, ids=lambda t: t.name)
def test_staged_frame_has_exactly_the_staged_columns_in_order(spark, table):
    staged = frame(spark, [], ingested_schema(table)).transform(stage(table))

    assert staged.columns == staged_columns(table)
    types = dict(names_and_types(staged.schema))
    assert (types["created_date"], types["last_updated_date"]) == (T.DateType(), T.DateType())
    assert (types["created_time"], types["last_updated_time"]) == (T.StringType(), T.StringType())
    assert (types["created_at"], types["last_updated"]) == (T.TimestampType(), T.TimestampType())


@pytest.mark.parametrize("table", SOURCE_TABLES, ids=lambda t: t.name)
def test_unstage_gives_back_the_ingested_schema(spark, table):
    staged = frame(spark, [], ingested_schema(table)).transform(stage(table))

    unstaged = staged.transform(unstage(table))

    assert names_and_types(unstaged.schema) == names_and_types(expected_spark_schema(table))


@pytest.mark.parametrize("table", FACT_SOURCES, ids=lambda t: t.name)
def test_stage_then_unstage_gives_back_the_ingested_rows(spark, table):
    source_df = ingested_df(spark, table, good_row(table), null_row(table, **{table.primary_key: 2}))

    round_trip = source_df.transform(stage(table)).transform(unstage(table))

    assert_df_equality(round_trip, source_df, ignore_nullable=True, transforms=any_row_order())


def test_unstage_keeps_the_original_text_of_an_unparsable_date_and_the_kept_columns(spark):
    source_df = ingested_df(
        spark, SALES_ORDER,
        good_row(SALES_ORDER, sales_order_id=1, agreed_delivery_date="2024-13-01",
                 agreed_payment_date="05/11/2024"),
        null_row(SALES_ORDER, sales_order_id=2),
    )

    unstaged = (source_df.transform(stage(SALES_ORDER))
                .selectExpr("*", "'a rule' AS quarantine_rule")
                .transform(unstage(SALES_ORDER, keep=("quarantine_rule",))))

    assert unstaged.columns == [*SALES_ORDER.column_names, "quarantine_rule"]
    expected = frame(
        spark,
        [(1, "2024-13-01", "05/11/2024", "a rule"), (2, None, None, "a rule")],
        "sales_order_id int, agreed_delivery_date string, agreed_payment_date string, quarantine_rule string")
    assert_df_equality(
        unstaged.select("sales_order_id", "agreed_delivery_date", "agreed_payment_date", "quarantine_rule"),
        expected, ignore_nullable=True, transforms=any_row_order())


def test_unstage_returns_trimmed_text_and_null_for_a_blank_nullable_value(spark):
    source_df = ingested_df(
        spark, ADDRESS,
        good_row(ADDRESS, address_id=1, address_line_1=" 6826 Herzog Via ", address_line_2="  "),
        null_row(ADDRESS, address_id=2),
    )

    unstaged = source_df.transform(stage(ADDRESS)).transform(unstage(ADDRESS))

    expected = ingested_df(spark, ADDRESS, good_row(ADDRESS, address_id=1, address_line_2=None),
                           null_row(ADDRESS, address_id=2))
    assert_df_equality(unstaged, expected, ignore_nullable=True, transforms=any_row_order())
