"""Data contracts on versions, copies and input schemas.

A violation raises a named error that says what it found.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from chispa import assert_df_equality
from pyspark.sql import types as T

from tests.transform.rows import any_row_order, good_row, ingested_df, null_row
from totes.tables import expected_spark_schema
from totes.tables import ADDRESS, PAYMENT, SALES_ORDER
from totes.transform.contracts import (
    InputSchemaError,
    check_input_schema,
    latest_versions,
    one_row_per_version,
)

T1 = dt.datetime(2024, 11, 5, 10, 0, 0, 123000)
T2 = dt.datetime(2024, 11, 6, 9, 15, 0)
T3 = dt.datetime(2024, 11, 7, 17, 45, 30, 500000)


def _payment(payment_id, last_updated, **values):
    return good_row(PAYMENT, payment_id=payment_id, created_at=T1, last_updated=last_updated, **values)


def test_latest_versions_keeps_the_row_with_the_largest_last_updated_per_key(spark):
    ingested = ingested_df(
        spark, PAYMENT,
        _payment(1, T1, paid=False),
        _payment(1, T3, paid=True),
        _payment(1, T2, paid=False, payment_amount=Decimal("10.00")),
        _payment(2, T2, paid=False),
        _payment(2, T2, paid=False),  # the same version ingested twice
        _payment(3, None, paid=None),  # a NULL last_updated is never later than a real one
        _payment(3, T1, paid=True),
        null_row(PAYMENT, payment_id=4),
    )

    latest = ingested.transform(latest_versions(PAYMENT))

    expected = ingested_df(spark, PAYMENT, _payment(1, T3, paid=True), _payment(2, T2, paid=False),
                           _payment(3, T1, paid=True), null_row(PAYMENT, payment_id=4))
    assert latest.columns == list(PAYMENT.column_names)
    assert_df_equality(latest, expected, ignore_nullable=True, transforms=any_row_order())


def test_one_row_per_version_collapses_identical_copies_only(spark):
    ingested = ingested_df(
        spark, PAYMENT,
        _payment(1, T1, paid=False),
        _payment(1, T1, paid=False),
        _payment(1, T1, paid=False),
        _payment(1, T2, paid=True),  # a later version of the same payment is a fact of its own
        _payment(2, T1, paid=False),  # another payment that shares the last_updated
        null_row(PAYMENT, payment_id=3),
        null_row(PAYMENT, payment_id=3),
    )

    collapsed = ingested.transform(one_row_per_version(PAYMENT))

    expected = ingested_df(spark, PAYMENT, _payment(1, T1, paid=False), _payment(1, T2, paid=True),
                           _payment(2, T1, paid=False), null_row(PAYMENT, payment_id=3))
    assert_df_equality(collapsed, expected, ignore_nullable=True, transforms=any_row_order())


def test_one_row_per_version_keeps_the_latest_copy_of_a_version_edited_in_place(spark):
    # A reconciliation re-ingested payment 1 at T1 with the source's corrected amount: the later run wins.
    copies = ingested_df(
        spark, PAYMENT,
        _payment(1, T1, paid=False, payment_amount=Decimal("10.00")),
        _payment(1, T1, paid=False, payment_amount=Decimal("12.50")),
        _payment(1, T2, paid=True, payment_amount=Decimal("12.50")),
        _payment(2, T1, paid=False),
        null_row(PAYMENT, payment_id=3),
    )
    runs = ["20241105T100000000Z-aaaa0001", "20241106T100000000Z-bbbb0002", "20241106T100000000Z-bbbb0002",
            "20241105T100000000Z-aaaa0001", "20241105T100000000Z-aaaa0001"]
    with_runs = spark.createDataFrame(
        [(*row, run) for row, run in zip(copies.collect(), runs)],
        T.StructType(copies.schema.fields + [T.StructField("_ingested_in", T.StringType())]))

    collapsed = with_runs.transform(one_row_per_version(PAYMENT, newer_first="_ingested_in"))

    expected = ingested_df(spark, PAYMENT, _payment(1, T1, paid=False, payment_amount=Decimal("12.50")),
                           _payment(1, T2, paid=True, payment_amount=Decimal("12.50")),
                           _payment(2, T1, paid=False), null_row(PAYMENT, payment_id=3))
    assert_df_equality(collapsed, expected, ignore_nullable=True, transforms=any_row_order())


def test_latest_versions_prefers_the_newer_copy_when_last_updated_ties(spark):
    snapshot_and_batch = ingested_df(
        spark, ADDRESS,
        good_row(ADDRESS, address_id=7, last_updated=T1, city="Bath"),  # in the current-state snapshot
        good_row(ADDRESS, address_id=7, last_updated=T1, city="Bristol"),  # re-ingested: edited in place
        good_row(ADDRESS, address_id=8, last_updated=T2, city="Leeds"),
        null_row(ADDRESS, address_id=9),
    )
    newer = [0, 1, 0, 0]
    tagged = spark.createDataFrame([(*row, n) for row, n in zip(snapshot_and_batch.collect(), newer)],
                                   T.StructType(snapshot_and_batch.schema.fields + [T.StructField("_newer", T.IntegerType())]))

    latest = tagged.transform(latest_versions(ADDRESS, newer_first="_newer"))

    expected = ingested_df(spark, ADDRESS, good_row(ADDRESS, address_id=7, last_updated=T1, city="Bristol"),
                           good_row(ADDRESS, address_id=8, last_updated=T2, city="Leeds"),
                           null_row(ADDRESS, address_id=9))
    assert_df_equality(latest, expected, ignore_nullable=True, transforms=any_row_order())


def test_check_input_schema_accepts_a_file_spark_wrote_with_the_contract(spark, tmp_path):
    ingested_df(spark, SALES_ORDER, good_row(SALES_ORDER), null_row(SALES_ORDER, sales_order_id=2)) \
        .coalesce(1).write.parquet(str(tmp_path / "sales_order"))
    files = [path.relative_to(tmp_path).as_posix() for path in (tmp_path / "sales_order").glob("*.parquet")]

    check_input_schema(SALES_ORDER, files, lambda key: (tmp_path / key).as_uri())


def _write_arrow(tmp_path, key: str, columns: dict[str, pa.Array]) -> str:
    path = tmp_path / key
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)
    return key


def _contract_columns() -> dict[str, pa.Array]:
    """One row in the physical types Spark writes for the sales_order contract, plus a NULL row."""
    return {
        "sales_order_id": pa.array([1, 2], pa.int32()),
        "created_at": pa.array([T1, None], pa.timestamp("us", tz="UTC")),
        "last_updated": pa.array([T1, None], pa.timestamp("us", tz="UTC")),
        "design_id": pa.array([1, None], pa.int32()),
        "staff_id": pa.array([1, None], pa.int32()),
        "counterparty_id": pa.array([1, None], pa.int32()),
        "units_sold": pa.array([42972, None], pa.int32()),
        "unit_price": pa.array([Decimal("3.94"), None], pa.decimal128(10, 2)),
        "currency_id": pa.array([1, None], pa.int32()),
        "agreed_delivery_date": pa.array(["2024-11-07", None], pa.string()),
        "agreed_payment_date": pa.array(["2024-11-08", None], pa.string()),
        "agreed_delivery_location_id": pa.array([1, None], pa.int32()),
    }


def test_check_input_schema_lists_a_missing_column_a_wrong_type_and_an_extra_column(tmp_path):
    assert list(_contract_columns()) == [field.name for field in expected_spark_schema(SALES_ORDER).fields]
    columns = _contract_columns()
    del columns["unit_price"]
    columns["units_sold"] = pa.array(["42972", None], pa.string())
    columns["surprise"] = pa.array([True, None], pa.bool_())
    good = _write_arrow(tmp_path, "sales_order/run_id=a/part-0.parquet", _contract_columns())
    bad = _write_arrow(tmp_path, "sales_order/run_id=b/part-0.parquet", columns)

    with pytest.raises(InputSchemaError) as raised:
        check_input_schema(SALES_ORDER, [good, bad], lambda key: (tmp_path / key).as_uri())

    message = str(raised.value)
    assert "sales_order" in message and bad in message and good not in message
    assert "unit_price is missing" in message
    assert "units_sold is string, expected int32" in message
    assert "surprise is not in the contract" in message
    assert "sales_order_id" not in message and "created_at" not in message


def test_check_input_schema_rejects_a_money_column_written_as_float(tmp_path):
    columns = _contract_columns()
    columns["unit_price"] = pa.array([3.94, None], pa.float64())
    bad = _write_arrow(tmp_path, "sales_order/part-0.parquet", columns)

    with pytest.raises(InputSchemaError, match=r"unit_price is double, expected decimal128\(10, 2\)"):
        check_input_schema(SALES_ORDER, [bad], lambda key: (tmp_path / key).as_uri())
