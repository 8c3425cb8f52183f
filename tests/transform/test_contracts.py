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

from tests.transform.rows import any_row_order, good_row, ingested_df, null_row
from totes.ingest.run import expected_spark_schema
from totes.tables import ADDRESS, PAYMENT, SALES_ORDER
from totes.transform.contracts import (
    ConflictingVersionsError,
    InputSchemaError,
    check_input_schema,
    check_versions_agree,
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


def test_check_versions_agree_accepts_identical_copies_and_distinct_versions(spark):
    ingested = ingested_df(
        spark, PAYMENT,
        _payment(1, T1, paid=False), _payment(1, T1, paid=False), _payment(1, T2, paid=True),
        null_row(PAYMENT, payment_id=2), null_row(PAYMENT, payment_id=2),
    )

    check_versions_agree(PAYMENT, ingested)


def test_check_versions_agree_names_the_key_and_version_of_copies_that_differ(spark):
    ingested = ingested_df(
        spark, PAYMENT,
        _payment(1, T1, paid=False),
        _payment(1, T1, paid=True),
        _payment(2, T1, paid=False),
        _payment(2, T1, paid=False),
        null_row(PAYMENT, payment_id=3),
    )

    with pytest.raises(ConflictingVersionsError,
                       match=r"^payment has versions ingested twice with different content: "
                             r"payment_id=1 at 2024-11-05 10:00:00\.123") as raised:
        check_versions_agree(PAYMENT, ingested)
    assert "payment_id=2" not in str(raised.value)


def test_check_versions_agree_sees_a_null_against_a_value_as_a_difference(spark):
    ingested = ingested_df(
        spark, ADDRESS,
        good_row(ADDRESS, address_id=7, address_line_2=None, district="Avon"),
        good_row(ADDRESS, address_id=7, address_line_2="Avon", district=None),
        null_row(ADDRESS, address_id=8),
    )

    with pytest.raises(ConflictingVersionsError, match=r"address_id=7 at "):
        check_versions_agree(ADDRESS, ingested)


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
