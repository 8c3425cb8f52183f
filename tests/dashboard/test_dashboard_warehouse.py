"""The dashboard's snapshot of a real warehouse: its figures, and the problems it reports instead of failing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import socket
from decimal import Decimal

import pytest

from tests.dashboard.conftest import BALANCES_TRUTH, REVENUE_TRUTH, SPEND_TRUTH
from tests.dashboard.warehouse_rows import EXPECTED_REVENUE, EXPECTED_SPEND, TODAY
from totes.dashboard import queries
from totes.dashboard.warehouse import (
    CREDENTIALS,
    MISSING_TABLES,
    NO_ACCESS,
    UNREACHABLE,
    DashboardProblem,
    load_snapshot,
    read_snapshot,
)
from totes.settings import WAREHOUSE_READONLY_SECRET_ID

MONEY_COLUMNS = {"revenue", "spend", "amount", "paid_amount", "unpaid_amount", "overdue_amount"}


def _by_currency(frame, column) -> dict:
    return dict(zip(frame["currency_code"], frame[column], strict=True))


def test_figures_count_only_the_latest_version_of_each_order_and_payment(known_warehouse):
    snapshot = read_snapshot(known_warehouse.reader, TODAY)

    revenue = _by_currency(snapshot[queries.SALES_TOTALS.name], "revenue")
    assert revenue == EXPECTED_REVENUE == dict(known_warehouse.sql(REVENUE_TRUTH))
    assert _by_currency(snapshot[queries.SALES_TOTALS.name], "sales_orders") == {"EUR": 1, "GBP": 2, "USD": 1}
    assert (
        _by_currency(snapshot[queries.PURCHASE_TOTALS.name], "spend")
        == EXPECTED_SPEND
        == dict(known_warehouse.sql(SPEND_TRUTH))
    )
    balances = snapshot[queries.PAYMENT_BALANCES.name]
    shown = {
        (row.currency_code, row.direction): (row.unpaid_amount, row.overdue_amount)
        for row in balances.itertuples()
    }
    truth = {
        (code, direction): (unpaid or Decimal(0), overdue or Decimal(0))
        for code, direction, unpaid, overdue in known_warehouse.sql(BALANCES_TRUTH)
    }
    assert (
        shown
        == truth
        == {
            ("GBP", "receivable"): (
                Decimal("0.00"),
                Decimal("0.00"),
            ),  # payment 1 was paid in its second version
            ("GBP", "payable"): (Decimal("134088.19"), Decimal("12.50")),  # payment 3 is due in the future
            ("USD", "receivable"): (Decimal("27.93"), Decimal("27.93")),
            ("EUR", "receivable"): (Decimal("14814814.68"), Decimal("14814814.68")),
        }
    )
    assert snapshot.currencies == ["EUR", "GBP", "USD"] and not snapshot.is_empty
    assert snapshot.contents["newest_last_updated"] == dt.datetime(2024, 7, 19, 12, 0)


def test_money_is_summed_per_currency_only(known_warehouse):
    snapshot = read_snapshot(known_warehouse.reader, TODAY)

    for name, frame in snapshot.frames.items():
        money = MONEY_COLUMNS & set(frame.columns)
        if money:
            assert "currency_code" in frame.columns, f"{name} sums {money} without a currency"
            assert all(isinstance(value, Decimal) for column in money for value in frame[column]), name


def test_overdue_is_measured_against_the_as_of_date(known_warehouse):
    before_due = read_snapshot(known_warehouse.reader, dt.date(2024, 7, 15))

    balances = before_due[queries.PAYMENT_BALANCES.name].set_index(["currency_code", "direction"])
    assert balances.loc[("USD", "receivable"), "overdue_amount"] == Decimal("27.93")  # due 2024-07-10
    assert balances.loc[("EUR", "receivable"), "overdue_amount"] == Decimal("0")  # due 2024-07-20
    ages = before_due[queries.OVERDUE_BY_AGE.name]
    assert [(row.currency_code, queries.age_band_label(row.age_band_order)) for row in ages.itertuples()] == [
        ("USD", "1-30 days")
    ]


def test_rankings_and_breakdowns_keep_currencies_apart(known_warehouse):
    snapshot = read_snapshot(known_warehouse.reader, TODAY)

    designs = snapshot[queries.TOP_DESIGNS.name]
    assert list(zip(designs["design"], designs["units_sold"], strict=True)) == \
        [("Wooden #1", 132), ("Granite #2", 57)]
    staff = snapshot[queries.REVENUE_BY_STAFF.name]
    assert {(r.staff_member, r.department_name, r.currency_code): r.revenue for r in staff.itertuples()} == {
        ("Jeremie Franey", "Purchasing", "GBP"): Decimal("300.00"),
        ("Jeremie Franey", "Purchasing", "EUR"): Decimal("14814814.68"),
        ("Deron Beier", "Sales", "GBP"): Decimal("62.50"),
        ("Deron Beier", "Sales", "USD"): Decimal("27.93"),
    }
    months = snapshot[queries.REVENUE_BY_MONTH.name]
    assert {(r.month, r.currency_code): r.revenue for r in months.itertuples()} == {
        (dt.date(2024, 6, 1), "GBP"): Decimal("300.00"),
        (dt.date(2024, 6, 1), "USD"): Decimal("27.93"),
        (dt.date(2024, 7, 1), "EUR"): Decimal("14814814.68"),
        (dt.date(2024, 7, 1), "GBP"): Decimal("62.50"),
    }
    items = snapshot[queries.SPEND_BY_ITEM_MONTH.name]
    assert set(items["item"]) == {"ZDOI5EA", "QKX81RT"}


def test_an_empty_warehouse_gives_an_empty_snapshot_not_a_problem(dashboard_warehouse):
    snapshot = read_snapshot(dashboard_warehouse.reader, TODAY)

    assert snapshot.is_empty
    assert snapshot.currencies == []
    assert snapshot.contents["newest_last_updated"] is None


def test_a_missing_table_is_named(known_warehouse):
    known_warehouse.rename_table("fact_payment", "fact_payment_elsewhere")

    with pytest.raises(DashboardProblem) as raised:
        read_snapshot(known_warehouse.reader, TODAY)
    assert raised.value.kind == MISSING_TABLES
    assert (
        "lacks the table fact_payment." in raised.value.message and "make warehouse" in raised.value.message
    )


def test_a_table_the_reader_may_not_read_is_named(known_warehouse):
    known_warehouse.sql("REVOKE SELECT ON dim_design FROM warehouse_reader")

    with pytest.raises(DashboardProblem) as raised:
        read_snapshot(known_warehouse.reader, TODAY)
    assert raised.value.kind == NO_ACCESS and "dim_design" in raised.value.message


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_warehouse_is_a_problem_that_never_shows_the_password(dashboard_warehouse):
    nowhere = dataclasses.replace(dashboard_warehouse.reader, port=_closed_port())

    with pytest.raises(DashboardProblem) as raised:
        read_snapshot(nowhere, TODAY)
    assert raised.value.kind == UNREACHABLE
    assert raised.value.message.startswith(
        f"The warehouse is unreachable: cannot connect to the warehouse {nowhere.describe()}"
    )
    assert nowhere.password not in raised.value.message


def test_wrong_credentials_are_a_problem_that_never_shows_the_password(dashboard_warehouse):
    wrong = dataclasses.replace(dashboard_warehouse.reader, password="not-the-password-0xC0FFEE")

    with pytest.raises(DashboardProblem) as raised:
        read_snapshot(wrong, TODAY)
    assert raised.value.kind == UNREACHABLE and "password authentication failed" in raised.value.message
    assert "0xC0FFEE" not in raised.value.message


def test_a_missing_secret_is_a_credentials_problem(dashboard_warehouse):
    with pytest.raises(DashboardProblem) as raised:
        load_snapshot("totesys/no-such-secret", TODAY)
    assert raised.value.kind == CREDENTIALS and "totesys/no-such-secret" in raised.value.message


def test_the_snapshot_is_read_with_the_secret_the_jobs_use(known_warehouse):
    snapshot = load_snapshot(WAREHOUSE_READONLY_SECRET_ID, TODAY)

    assert snapshot.source == known_warehouse.reader.describe()
    assert snapshot.source.startswith("warehouse_reader@")
