"""Dimensions: the latest values, one row per natural key, built from the full current state of the source.

Inputs are staged frames of the *current state* of each source table (its latest version per key), never only
the rows of one batch: a staff member gets their department's name even when the department did not change.
"""

from __future__ import annotations

import datetime as dt

import pycountry
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from totes.spark_frames import string_rows_frame
from totes.star import (
    DIM_COUNTERPARTY,
    DIM_CURRENCY,
    DIM_DATE,
    DIM_DESIGN,
    DIM_LOCATION,
    DIM_PAYMENT_TYPE,
    DIM_STAFF,
    DIM_TRANSACTION,
    StarTable,
)


def _declared(dim: StarTable, df: DataFrame) -> DataFrame:
    return df.select(*(F.col(c.name).cast(c.spark_type).alias(c.name) for c in dim.columns))


def dim_location(address_df: DataFrame) -> DataFrame:
    """Grain: one row per address."""
    return _declared(DIM_LOCATION, address_df.withColumnRenamed("address_id", "location_id"))


def dim_design(design_df: DataFrame) -> DataFrame:
    """Grain: one row per design."""
    return _declared(DIM_DESIGN, design_df)


def dim_payment_type(payment_type_df: DataFrame) -> DataFrame:
    """Grain: one row per payment type."""
    return _declared(DIM_PAYMENT_TYPE, payment_type_df)


def dim_transaction(transaction_df: DataFrame) -> DataFrame:
    """Grain: one row per transaction."""
    return _declared(DIM_TRANSACTION, transaction_df)


def dim_staff(staff_df: DataFrame, department_df: DataFrame) -> DataFrame:
    """Grain: one row per staff member, with their department's current name and location."""
    departments_df = department_df.select("department_id", "department_name", "location")
    return _declared(DIM_STAFF, staff_df.join(departments_df, on="department_id", how="left"))


def dim_counterparty(counterparty_df: DataFrame, address_df: DataFrame) -> DataFrame:
    """Grain: one row per counterparty, with its current legal address."""
    legal_address_df = address_df.select(
        F.col("address_id").alias("legal_address_id"),
        F.col("address_line_1").alias("counterparty_legal_address_line_1"),
        F.col("address_line_2").alias("counterparty_legal_address_line_2"),
        F.col("district").alias("counterparty_legal_district"),
        F.col("city").alias("counterparty_legal_city"),
        F.col("postal_code").alias("counterparty_legal_postal_code"),
        F.col("country").alias("counterparty_legal_country"),
        F.col("phone").alias("counterparty_legal_phone_number"),
    )
    return _declared(DIM_COUNTERPARTY, counterparty_df.join(legal_address_df, on="legal_address_id", how="left"))


ISO_4217_COLUMNS = ("currency_code", "currency_name")


def iso_4217_currencies(spark: SparkSession) -> DataFrame:
    """ISO 4217 codes and names from pycountry (which tracks the ISO data), e.g. GBP → Pound Sterling."""
    return string_rows_frame(spark, [(c.alpha_3, c.name) for c in pycountry.currencies], ISO_4217_COLUMNS)


def with_currency_names(iso_currencies_df: DataFrame):
    """Adds ``currency_name`` (NULL for a code ISO 4217 does not know) and ``currency_known``."""

    def add_names(currency_df: DataFrame) -> DataFrame:
        named_df = currency_df.join(
            iso_currencies_df.withColumnRenamed("currency_code", "_iso_code"),
            on=F.upper(F.col("currency_code")) == F.col("_iso_code"), how="left")
        return named_df.select(*currency_df.columns, "currency_name",
                               F.col("currency_name").isNotNull().alias("currency_known"))

    return add_names


def dim_currency(named_currency_df: DataFrame) -> DataFrame:
    """Grain: one row per currency. Input: the current currencies after :func:`with_currency_names`."""
    return _declared(DIM_CURRENCY, named_currency_df)


def dim_date(spark: SparkSession, first_date: dt.date, last_date: dt.date) -> DataFrame:
    """Grain: one row per day from ``first_date`` to ``last_date`` inclusive (a gapless calendar)."""
    days_df = spark.range(1).select(
        F.explode(F.sequence(F.lit(first_date), F.lit(last_date), F.expr("INTERVAL 1 DAY"))).alias("date_id"))
    return _declared(DIM_DATE, days_df.select(
        "date_id",
        F.year("date_id").alias("year"),
        F.month("date_id").alias("month"),
        F.dayofmonth("date_id").alias("day"),
        # Spark's dayofweek counts Sunday = 1; ISO counts Monday = 1 ... Sunday = 7.
        (((F.dayofweek("date_id") + 5) % 7) + 1).alias("day_of_week"),
        F.date_format("date_id", "EEEE").alias("day_name"),
        F.date_format("date_id", "MMMM").alias("month_name"),
        F.quarter("date_id").alias("quarter"),
    ))


# Which current source tables each dimension is built from: a dimension is rebuilt when one of them changed.
DIMENSION_INPUTS: dict[str, tuple[str, ...]] = {
    "dim_location": ("address",),
    "dim_design": ("design",),
    "dim_payment_type": ("payment_type",),
    "dim_transaction": ("transaction",),
    "dim_staff": ("staff", "department"),
    "dim_counterparty": ("counterparty", "address"),
    "dim_currency": ("currency",),
}
