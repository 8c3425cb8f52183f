"""Tiny row builders for the transform unit tests: one good totesys row per table, overridden per test.

Rows are built in the ingestion zone's form (``expected_spark_schema``) and staged with the real
:func:`totes.transform.staging.stage`, so quality, dimension and fact tests start from what the job gives
them.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T
from pyspark.sql.types import _parse_datatype_string

from totes.tables import expected_spark_schema
from totes.tables import SourceTable, source_table
from totes.transform.staging import stage

CREATED_AT = dt.datetime(2024, 11, 5, 10, 0, 0, 123000)
LAST_UPDATED = dt.datetime(2024, 11, 5, 10, 0, 0, 123000)
_STAMPS = {"created_at": CREATED_AT, "last_updated": LAST_UPDATED}

# One valid row per source table, values in the style of the real totesys data.
GOOD_ROWS: dict[str, dict] = {
    "address": dict(address_id=1, address_line_1="6826 Herzog Via", address_line_2=None, district="Avon",
                    city="New Patienceburgh", postal_code="28441", country="Turkey", phone="1803 637401",
                    **_STAMPS),
    "counterparty": dict(counterparty_id=1, counterparty_legal_name="Fahey and Sons", legal_address_id=1,
                         commercial_contact="Micheal Toy", delivery_contact="Mrs. Lucy Runolfsdottir",
                         **_STAMPS),
    "currency": dict(currency_id=1, currency_code="GBP", **_STAMPS),
    "department": dict(department_id=1, department_name="Sales", location="Manchester",
                       manager="Richard Roma", **_STAMPS),
    "design": dict(design_id=1, created_at=CREATED_AT, design_name="Wooden", file_location="/usr",
                   file_name="wooden-20220717-npgz.json", last_updated=LAST_UPDATED),
    "payment_type": dict(payment_type_id=1, payment_type_name="SALES_RECEIPT", **_STAMPS),
    "staff": dict(staff_id=1, first_name="Jeremie", last_name="Franey", department_id=1,
                  email_address="jeremie.franey@terrifictotes.com", **_STAMPS),
    "sales_order": dict(sales_order_id=1, **_STAMPS, design_id=1, staff_id=1, counterparty_id=1,
                        units_sold=42972, unit_price=Decimal("3.94"), currency_id=1,
                        agreed_delivery_date="2024-11-07", agreed_payment_date="2024-11-08",
                        agreed_delivery_location_id=1),
    "purchase_order": dict(purchase_order_id=1, **_STAMPS, staff_id=1, counterparty_id=1, item_code="ZDOI5EA",
                           item_quantity=371, item_unit_price=Decimal("361.39"), currency_id=1,
                           agreed_delivery_date="2024-11-09", agreed_payment_date="2024-11-07",
                           agreed_delivery_location_id=1),
    "transaction": dict(transaction_id=1, transaction_type="SALE", sales_order_id=1, purchase_order_id=None,
                        **_STAMPS),
    "payment": dict(payment_id=1, **_STAMPS, transaction_id=1, counterparty_id=1,
                    payment_amount=Decimal("169314.68"), currency_id=1, payment_type_id=1, paid=False,
                    payment_date="2024-11-06", company_ac_number=67305075, counterparty_ac_number=31622269),
}

CURRENCY_VERDICT_SCHEMA = T.StructType([
    T.StructField("currency_id", T.IntegerType()),
    T.StructField("currency_code", T.StringType()),
    T.StructField("currency_known", T.BooleanType()),
])


_ARROW = "spark.sql.execution.arrow.pyspark.enabled"
_ARROW_FALLBACK = "spark.sql.execution.arrow.pyspark.fallback.enabled"


def frame(spark: SparkSession, rows: list[tuple], schema: T.StructType | str) -> DataFrame:
    """``spark.createDataFrame(rows, schema)``, built as a local relation through Arrow.

    A frame created from a Python list is an RDD that needs a Python worker on every action (about 0.4 s
    here); through Arrow it is a local relation Spark evaluates in the driver, several times faster. The
    session's Arrow settings are restored, so other tests see the session as it was.
    """
    struct = _parse_datatype_string(schema) if isinstance(schema, str) else schema
    records = pd.DataFrame.from_records(list(rows), columns=struct.names).astype(object)
    previous = {key: spark.conf.get(key) for key in (_ARROW, _ARROW_FALLBACK)}
    spark.conf.set(_ARROW, "true")
    spark.conf.set(_ARROW_FALLBACK, "false")  # a conversion problem must fail the test, not slow it down
    try:
        return spark.createDataFrame(records, struct)
    finally:
        for key, value in previous.items():
            spark.conf.set(key, value)


def _table(table: SourceTable | str) -> SourceTable:
    return source_table(table) if isinstance(table, str) else table


def ingested_schema(table: SourceTable | str) -> T.StructType:
    """The ingestion contract's columns and types, every field nullable.

    Files read back with a schema are nullable everywhere (a file that lacked a column reads as NULL), and the
    tests need NULL rows in NOT NULL columns to see what the rules make of them.
    """
    contract = expected_spark_schema(_table(table))
    return T.StructType([T.StructField(field.name, field.dataType, True) for field in contract.fields])


def good_row(table: SourceTable | str, **values) -> dict:
    """The table's good row with ``values`` replacing some columns; an unknown column is an error."""
    table = _table(table)
    unknown = set(values) - set(table.column_names)
    if unknown:
        raise KeyError(f"{table.name} has no column(s) {sorted(unknown)}")
    return {**GOOD_ROWS[table.name], **values}


def null_row(table: SourceTable | str, **values) -> dict:
    """Every column NULL except ``values`` (usually the primary key)."""
    table = _table(table)
    return good_row(table, **{**{name: None for name in table.column_names}, **values})


def ingested_df(spark: SparkSession, table: SourceTable | str, *rows: dict) -> DataFrame:
    """Rows (dicts from :func:`good_row` / :func:`null_row`) as the ingestion zone holds them."""
    table = _table(table)
    values = [tuple(row[name] for name in table.column_names) for row in rows]
    return frame(spark, values, ingested_schema(table))


def staged_df(spark: SparkSession, table: SourceTable | str, *rows: dict) -> DataFrame:
    """Rows after the real staging transform."""
    table = _table(table)
    return ingested_df(spark, table, *rows).transform(stage(table))


def keys_df(spark: SparkSession, parent: str, *ids: int | None) -> DataFrame:
    """A parent table's current keys, the way the job hands them to the quality rules."""
    schema = T.StructType([T.StructField(f"{parent}_id", T.IntegerType())])
    return frame(spark, [(key,) for key in ids], schema)


def currency_verdicts_df(spark: SparkSession, *rows: tuple[int, str, bool]) -> DataFrame:
    """``currency_id``, ``currency_code``, ``currency_known``: the rules' view of ``with_currency_names``."""
    return frame(spark, list(rows), CURRENCY_VERDICT_SCHEMA)


def any_row_order() -> list:
    """chispa ``transforms`` that compare rows in any order: ``ignore_row_order`` without its cost.

    ``ignore_row_order=True`` sorts each frame globally, a range shuffle with a sampling job per side (about
    a second on these tiny frames); one partition sorted in place gives the same order without a shuffle.
    A new list each time: chispa appends to the list it is given.
    """
    return [lambda df: df.coalesce(1).sortWithinPartitions(*df.columns)]


def names_and_types(schema: T.StructType) -> list[tuple[str, T.DataType]]:
    """A schema without nullability: what the processed zone's contract is about."""
    return [(field.name, field.dataType) for field in schema.fields]
