"""Charts and figures of the page: valid Vega-Lite from real snapshot frames, one currency per money chart."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
import pytest

from tests.dashboard.warehouse_rows import TODAY
from totes.dashboard import charts, queries
from totes.dashboard.__main__ import main as dashboard_main
from totes.dashboard.warehouse import read_snapshot


@pytest.mark.parametrize(
    "amount, code, shown",
    [
        (Decimal("14814814.68"), "EUR", "14,814,814.68 EUR"),
        (Decimal("0"), "GBP", "0.00 GBP"),
        (None, "USD", "0.00 USD"),
        (Decimal("-12.5"), "GBP", "-12.50 GBP"),
    ],
)
def test_money_is_shown_exactly_with_its_currency_code(amount, code, shown):
    assert charts.format_money(amount, code) == shown


def test_every_chart_is_valid_vega_lite_and_money_charts_show_one_currency(known_warehouse):
    snapshot = read_snapshot(known_warehouse.reader, TODAY)

    money_charts = [
        charts.revenue_by_month(snapshot[queries.REVENUE_BY_MONTH.name], "GBP"),
        charts.ranked_bars(
            snapshot[queries.REVENUE_BY_COUNTERPARTY.name],
            "counterparty",
            "revenue",
            "By counterparty (GBP)",
            "revenue",
            "GBP",
        ),
        charts.spend_heatmap(snapshot[queries.SPEND_BY_COUNTERPARTY_MONTH.name], "GBP"),
        charts.spend_by_item(snapshot[queries.SPEND_BY_ITEM_MONTH.name], "GBP"),
        charts.paid_versus_unpaid(snapshot[queries.PAYMENTS_BY_TYPE_AND_STATUS.name], "GBP"),
        charts.overdue_by_age(snapshot[queries.OVERDUE_BY_AGE.name], "GBP"),
    ]
    for chart in money_charts:
        spec = chart.to_dict()  # validates against the Vega-Lite schema
        assert "GBP" in spec["title"]
        assert set(chart.data["currency_code"]) <= {"GBP"}
    units = charts.ranked_bars(snapshot[queries.TOP_DESIGNS.name], "design", "units_sold", "t", "units")
    assert units.to_dict()["mark"]["type"] == "bar"
    runs = pd.DataFrame(
        [
            {
                "started": dt.datetime(2026, 11, 25, 10, tzinfo=dt.timezone.utc),
                "job": "totesys-load",
                "state": "SUCCEEDED",
                "duration_s": 3.5,
                "rows_out": 10,
                "run_id": "jr_1",
            }
        ]
    )
    charts.job_run_durations(runs).to_dict()
    charts.rows_per_table(
        pd.DataFrame(
            [{"started": runs.started[0], "run": "11-25 10:00 jr_1", "table": "fact_payment", "rows": 10}]
        ),
        "t",
    ).to_dict()


def test_the_launcher_refuses_a_bad_setting_before_serving(monkeypatch, capsys):
    monkeypatch.setenv("TOTES_DASHBOARD_REFRESH_SECONDS", "60")  # restored after the test

    with pytest.raises(SystemExit) as exited:
        dashboard_main(["--refresh-seconds", "0.1"])

    assert exited.value.code == 2
    assert "TOTES_DASHBOARD_REFRESH_SECONDS='0.1'" in capsys.readouterr().err
