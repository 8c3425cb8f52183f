"""Altair charts of the page, and money formatting.

Money figures stay ``Decimal`` from the warehouse to the text on the page. A chart is drawn by Vega-Lite in
the browser, which only knows JSON numbers, so each chart converts its own copy of the amounts to float: the
bars are exact to far below a pixel, and no figure a person reads as a number comes from a float.

Every money chart shows ONE currency (the page's currency picker); no chart sums or stacks amounts of
different currencies, as no conversion rate is stated anywhere.
"""

from __future__ import annotations

from decimal import Decimal

import altair as alt
import pandas as pd

from totes.dashboard.queries import OTHER_ITEMS, OVERDUE_AGE_BANDS
from totes.local.job_states import ERROR, FAILED, RUNNING, STOPPED, SUCCEEDED, TIMEOUT

LABEL_LIMIT = 220  # pixels of a category label before Vega-Lite cuts it short (counterparty names are long)
STATE_COLOURS = {SUCCEEDED: "#2e7d32", RUNNING: "#1565c0", FAILED: "#c62828", TIMEOUT: "#ef6c00", STOPPED: "#6d4c41",
                 ERROR: "#c62828"}


def format_money(amount: Decimal | int | None, currency_code: str) -> str:
    """``1,234.50 GBP``: the code, not a symbol, so that no two currencies can be confused."""
    value = Decimal(0) if amount is None else Decimal(amount)
    return f"{value:,.2f} {currency_code}"


def format_count(count) -> str:
    return f"{int(count):,}"


def _money_for_chart(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    chart_frame = frame.copy()
    for column in columns:
        chart_frame[column] = chart_frame[column].astype(float)
    return chart_frame


def _months(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["month"] = pd.to_datetime(frame["month"])
    return frame


def _money_axis(currency_code: str, title: str) -> alt.Axis:
    return alt.Axis(title=f"{title} ({currency_code})", format=",.0f")


def _one_currency(frame: pd.DataFrame, currency_code: str) -> pd.DataFrame:
    return frame[frame["currency_code"] == currency_code]


def revenue_by_month(frame: pd.DataFrame, currency_code: str) -> alt.Chart:
    """Bars, not a line: a month without sales shows as a gap instead of being drawn across."""
    data = _money_for_chart(_months(_one_currency(frame, currency_code)), "revenue")
    return (
        alt.Chart(data, title=f"Revenue by month ({currency_code})")
        .mark_bar()
        .encode(
            x=alt.X("yearmonth(month):T", title="month created", axis=alt.Axis(format="%b %Y")),
            y=alt.Y("revenue:Q", axis=_money_axis(currency_code, "revenue")),
            tooltip=[
                alt.Tooltip("month:T", format="%B %Y"),
                alt.Tooltip("revenue:Q", format=",.2f"),
                alt.Tooltip("sales_orders:Q", title="sales orders"),
            ],
        )
    )


def ranked_bars(
    frame: pd.DataFrame,
    category: str,
    value: str,
    title: str,
    value_title: str,
    currency_code: str | None = None,
    colour: str | None = None,
    limit: int = 15,
) -> alt.Chart:
    """Horizontal bars, largest first; ``currency_code`` keeps one currency and names it on the axis."""
    data = _one_currency(frame, currency_code) if currency_code else frame
    data = data.sort_values(value, ascending=False).head(limit)
    if currency_code:
        data = _money_for_chart(data, value)
        x_axis = _money_axis(currency_code, value_title)
    else:
        x_axis = alt.Axis(title=value_title, format=",d")
    encoding = {
        "x": alt.X(f"{value}:Q", axis=x_axis),
        "y": alt.Y(f"{category}:N", sort="-x", title=None, axis=alt.Axis(labelLimit=LABEL_LIMIT)),
        "tooltip": [
            alt.Tooltip(f"{category}:N"),
            alt.Tooltip(f"{value}:Q", format=",.2f" if currency_code else ",d"),
        ],
    }
    if colour:
        encoding["color"] = alt.Color(f"{colour}:N")
        encoding["tooltip"].append(alt.Tooltip(f"{colour}:N"))
    return alt.Chart(data, title=title).mark_bar().encode(**encoding)


def spend_heatmap(frame: pd.DataFrame, currency_code: str) -> alt.Chart:
    """Spend by counterparty and month: one cell per pair, darker is more."""
    data = _money_for_chart(_months(_one_currency(frame, currency_code)), "spend")
    return (
        alt.Chart(data, title=f"Purchase spend by counterparty and month ({currency_code})")
        .mark_rect()
        .encode(
            x=alt.X("yearmonth(month):O", title="month created"),
            y=alt.Y("counterparty:N", title=None, axis=alt.Axis(labelLimit=LABEL_LIMIT)),
            color=alt.Color("spend:Q", title=f"spend ({currency_code})", scale=alt.Scale(scheme="blues")),
            tooltip=[
                "counterparty:N",
                alt.Tooltip("month:T", format="%B %Y"),
                alt.Tooltip("spend:Q", format=",.2f"),
                alt.Tooltip("purchase_orders:Q", title="purchase orders"),
            ],
        )
    )


def spend_by_item(frame: pd.DataFrame, currency_code: str) -> alt.Chart:
    """Spend per month, stacked by item: the biggest items by name, the rest as one series (one currency)."""
    data = _money_for_chart(_months(_one_currency(frame, currency_code)), "spend")
    items = sorted(item for item in data["item"].unique() if item != OTHER_ITEMS)
    return (
        alt.Chart(data, title=f"Purchase spend by item and month ({currency_code})")
        .mark_bar()
        .encode(
            x=alt.X("yearmonth(month):O", title="month created"),
            y=alt.Y("sum(spend):Q", axis=_money_axis(currency_code, "spend")),
            color=alt.Color("item:N", sort=items + [OTHER_ITEMS], title="item code"),
            tooltip=["item:N", alt.Tooltip("month:T", format="%B %Y"), alt.Tooltip("spend:Q", format=",.2f")],
        )
    )


def paid_versus_unpaid(frame: pd.DataFrame, currency_code: str) -> alt.Chart:
    """Amount per payment type, split into paid and unpaid (one currency, so the stack is a true total)."""
    data = _money_for_chart(_one_currency(frame, currency_code), "amount")
    data["status"] = data["paid"].map({True: "paid", False: "unpaid"})
    return (
        alt.Chart(data, title=f"Paid and unpaid by payment type ({currency_code})")
        .mark_bar()
        .encode(
            x=alt.X("amount:Q", axis=_money_axis(currency_code, "amount")),
            y=alt.Y("payment_type_name:N", title=None, axis=alt.Axis(labelLimit=LABEL_LIMIT)),
            color=alt.Color(
                "status:N", scale=alt.Scale(domain=["paid", "unpaid"], range=["#2e7d32", "#c62828"])
            ),
            tooltip=["payment_type_name:N", "status:N", alt.Tooltip("amount:Q", format=",.2f"), "payments:Q"],
        )
    )


def overdue_by_age(frame: pd.DataFrame, currency_code: str) -> alt.Chart:
    data = _money_for_chart(_one_currency(frame, currency_code), "overdue_amount")
    labels = [label for label, _first, _last in OVERDUE_AGE_BANDS]
    data["overdue for"] = data["age_band_order"].map(lambda order: labels[int(order)])
    return (
        alt.Chart(data, title=f"Overdue unpaid amounts by days past due ({currency_code})")
        .mark_bar()
        .encode(
            x=alt.X("overdue for:N", sort=labels, title="days past the agreed payment date",
                    axis=alt.Axis(labelAngle=0)),
            xOffset=alt.XOffset("direction:N"),
            y=alt.Y("overdue_amount:Q", axis=_money_axis(currency_code, "overdue")),
            color=alt.Color(
                "direction:N",
                scale=alt.Scale(
                    domain=["receivable", "payable", "unclassified"], range=["#1565c0", "#ef6c00", "#9e9e9e"]
                ),
            ),
            tooltip=[
                "direction:N",
                "overdue for:N",
                alt.Tooltip("overdue_amount:Q", format=",.2f"),
                alt.Tooltip("overdue_payments:Q", title="payments"),
            ],
        )
    )


def job_run_durations(frame: pd.DataFrame) -> alt.Chart:
    """One point per job run: when it started, how long it took, how it ended."""
    states = [state for state in STATE_COLOURS if state in set(frame["state"])] + sorted(
        set(frame["state"]) - set(STATE_COLOURS)
    )
    return (
        alt.Chart(frame, title="Job run durations")
        .mark_point(filled=True, size=80)
        .encode(
            x=alt.X("started:T", title="started (UTC)", axis=alt.Axis(format="%d %b %H:%M")),
            y=alt.Y("duration_s:Q", title="duration (s)"),
            color=alt.Color(
                "state:N",
                scale=alt.Scale(
                    domain=states, range=[STATE_COLOURS.get(state, "#9e9e9e") for state in states]
                ),
            ),
            shape=alt.Shape("job:N"),
            tooltip=[
                "job:N",
                "state:N",
                alt.Tooltip("started:T", format="%Y-%m-%d %H:%M:%S"),
                alt.Tooltip("duration_s:Q", format=",.1f"),
                "rows_out:Q",
                "run_id:N",
            ],
        )
    )


def rows_per_table(frame: pd.DataFrame, title: str) -> alt.Chart:
    """Rows written per run, stacked by table (row counts, not money: they add up)."""
    return (
        alt.Chart(frame, title=title)
        .mark_bar()
        .encode(
            x=alt.X(
                "run:O",
                sort=alt.EncodingSortField("started"),
                title="run (started UTC, run id)",
                axis=alt.Axis(labelAngle=-30, labelLimit=LABEL_LIMIT),
            ),
            y=alt.Y("sum(rows):Q", title="rows", axis=alt.Axis(format=",d")),
            color=alt.Color("table:N"),
            tooltip=["run:N", "table:N", alt.Tooltip("rows:Q", format=",d")],
        )
    )
