"""The dashboard page: sales, purchases, payments and pipeline health, read live from the warehouse.

Served by ``python -m totes.dashboard`` (``make dashboard``). Everything under the title is a Streamlit
fragment that re-runs every refresh interval, so a load that commits shows up without a restart; one warehouse
snapshot (one read-only transaction) is shared by every open page for half an interval.

When the warehouse cannot answer, the page says why in a box at the top (``warehouse-status``) and keeps
refreshing, so it recovers by itself; the pipeline health tab does not need the warehouse and stays up.

Figures a test or a person reads are ``st.metric`` elements inside containers keyed ``figure-<name>``
(Streamlit gives each the CSS class ``st-key-figure-<name>``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
import streamlit as st

from totes.dashboard import charts, queries
from totes.dashboard.config import DashboardConfig, DashboardConfigError
from totes.dashboard.freshness import FreshnessSourceError, FreshnessView, format_lag, freshness_source, freshness_view
from totes.dashboard.job_runs import (
    JobRunRecord,
    JobRunSourceError,
    format_age,
    freshness,
    job_run_source,
)
from totes.dashboard.quality import latest_report, quality_jobs, report_frame
from totes.dashboard.warehouse import DashboardProblem, WarehouseSnapshot, load_snapshot
from totes.local.job_states import SUCCEEDED
from totes.transform.quality_report import format_share

TABS = ("Sales", "Purchases", "Payments", "Pipeline health")
DEFAULT_CURRENCY = "GBP"  # Terrific Totes keeps its books in pounds; the picker offers every currency present
RECENT_RUNS_SHOWN = 30
DIRECTIONS = ("receivable", "payable")
RUN_COLUMNS = {
    "started": st.column_config.DatetimeColumn("started (UTC)", format="YYYY-MM-DD HH:mm:ss"),
    "duration_s": st.column_config.NumberColumn("duration (s)", format="%.1f"),
    "rows_in": st.column_config.NumberColumn("rows in", format="%d"),
    "rows_out": st.column_config.NumberColumn("rows out", format="%d"),
}


def _utc(moment: dt.datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def figure(key: str, label: str, value: str, help: str | None = None) -> None:
    with st.container(key=f"figure-{key}", width="content"):
        st.metric(label, value, help=help, border=True, width="content")


def figure_row():
    """A row of figures that wraps instead of cutting long amounts short."""
    return st.container(horizontal=True, wrap=True, gap="medium")


def chart(altair_chart) -> None:
    st.altair_chart(altair_chart, width="stretch")


def cached_snapshot(config: DashboardConfig, as_of: dt.date) -> WarehouseSnapshot:
    @st.cache_data(ttl=config.cache_seconds, show_spinner=False)
    def snapshot(secret_id: str, as_of: dt.date) -> WarehouseSnapshot:
        return load_snapshot(secret_id, as_of)

    return snapshot(config.secret_id, as_of)


def cached_job_runs(config: DashboardConfig) -> tuple[str, list[JobRunRecord]]:
    @st.cache_data(ttl=config.cache_seconds, show_spinner=False)
    def job_runs(location: str, name_prefix: str) -> tuple[str, list[JobRunRecord]]:
        source = job_run_source(location, name_prefix)
        return source.describe(), source.recent_runs()

    return job_runs(config.job_runs, config.name_prefix)


# Sales ------------------------------------------------------------------------------------------------------


def render_sales(snapshot: WarehouseSnapshot, currency: str) -> None:
    totals = snapshot[queries.SALES_TOTALS.name]
    if totals.empty:
        st.info("No sales orders have been loaded yet.")
        return
    with figure_row():
        for row in totals.itertuples():
            figure(
                f"revenue-{row.currency_code.lower()}",
                f"Revenue {row.currency_code}",
                charts.format_money(row.revenue, row.currency_code),
                help=f"Units sold times unit price of the latest version of each sales order in "
                f"{row.currency_code} ({charts.format_count(row.sales_orders)} orders)",
            )
        figure(
            "sales-orders",
            "Sales orders",
            charts.format_count(totals["sales_orders"].sum()),
            help="Distinct sales orders, all currencies (a count, so it may be added up)",
        )
        figure(
            "units-sold",
            "Units sold",
            charts.format_count(totals["units_sold"].sum()),
            help="Units of the latest version of each sales order, all currencies",
        )

    chart(charts.revenue_by_month(snapshot[queries.REVENUE_BY_MONTH.name], currency))
    left, right = st.columns(2)
    with left:
        chart(
            charts.ranked_bars(
                snapshot[queries.TOP_DESIGNS.name],
                "design",
                "units_sold",
                "Top designs by units sold (all currencies)",
                "units sold",
            )
        )
    with right:
        chart(
            charts.ranked_bars(
                snapshot[queries.REVENUE_BY_COUNTERPARTY.name],
                "counterparty",
                "revenue",
                f"Revenue by counterparty ({currency})",
                "revenue",
                currency,
            )
        )
    locations = snapshot[queries.REVENUE_BY_DELIVERY_LOCATION.name]
    by_country = (
        locations.groupby(["country", "currency_code"], as_index=False)["revenue"].sum()
        if not locations.empty
        else locations
    )
    by_city = locations.assign(city=locations["city"] + ", " + locations["country"])
    left, right = st.columns(2)
    with left:
        chart(
            charts.ranked_bars(
                by_country,
                "country",
                "revenue",
                f"Revenue by delivery country ({currency})",
                "revenue",
                currency,
            )
        )
    with right:
        chart(
            charts.ranked_bars(
                by_city, "city", "revenue", f"Revenue by delivery city ({currency})", "revenue", currency
            )
        )
    left, right = st.columns(2)
    with left:
        chart(
            charts.ranked_bars(
                snapshot[queries.REVENUE_BY_DEPARTMENT.name],
                "department_name",
                "revenue",
                f"Revenue by department ({currency})",
                "revenue",
                currency,
            )
        )
    with right:
        chart(
            charts.ranked_bars(
                snapshot[queries.REVENUE_BY_STAFF.name],
                "staff_member",
                "revenue",
                f"Revenue by staff member ({currency})",
                "revenue",
                currency,
                colour="department_name",
            )
        )


# Purchases --------------------------------------------------------------------------------------------------


def render_purchases(snapshot: WarehouseSnapshot, currency: str) -> None:
    totals = snapshot[queries.PURCHASE_TOTALS.name]
    if totals.empty:
        st.info("No purchase orders have been loaded yet.")
        return
    with figure_row():
        for row in totals.itertuples():
            figure(
                f"spend-{row.currency_code.lower()}",
                f"Purchase spend {row.currency_code}",
                charts.format_money(row.spend, row.currency_code),
                help=f"Item quantity times item unit price of the latest version of each purchase order in "
                f"{row.currency_code} ({charts.format_count(row.purchase_orders)} orders)",
            )
        figure("purchase-orders", "Purchase orders", charts.format_count(totals["purchase_orders"].sum()))

    by_counterparty_month = snapshot[queries.SPEND_BY_COUNTERPARTY_MONTH.name]
    chart(charts.spend_heatmap(by_counterparty_month, currency))
    left, right = st.columns(2)
    with left:
        totals_by_counterparty = by_counterparty_month.groupby(
            ["counterparty", "currency_code"], as_index=False
        )["spend"].sum()
        chart(
            charts.ranked_bars(
                totals_by_counterparty,
                "counterparty",
                "spend",
                f"Purchase spend by counterparty ({currency})",
                "spend",
                currency,
            )
        )
    with right:
        chart(charts.spend_by_item(snapshot[queries.SPEND_BY_ITEM_MONTH.name], currency))


# Payments ---------------------------------------------------------------------------------------------------


def _balance(balances: pd.DataFrame, currency: str, direction: str, column: str) -> Decimal:
    rows = balances[(balances["currency_code"] == currency) & (balances["direction"] == direction)]
    return rows[column].iloc[0] if not rows.empty else Decimal(0)


def render_payments(snapshot: WarehouseSnapshot, currency: str) -> None:
    balances = snapshot[queries.PAYMENT_BALANCES.name]
    if balances.empty:
        st.info("No payments have been loaded yet.")
        return
    st.caption(
        f"Latest version of each payment. Receivable: sales receipts and purchase refunds (money in); "
        f"payable: purchase payments and sales refunds (money out). Overdue: unpaid and the agreed "
        f"payment date is before {snapshot.as_of.isoformat()} (today, UTC)."
    )
    currencies = sorted(set(balances["currency_code"]))
    for column, code in zip(st.columns(len(currencies)), currencies, strict=True):
        with column:
            st.markdown(f"**{code}**")
            for direction in DIRECTIONS:
                figure(
                    f"unpaid-{direction}-{code.lower()}",
                    f"Unpaid {direction} {code}",
                    charts.format_money(_balance(balances, code, direction, "unpaid_amount"), code),
                )
                figure(
                    f"overdue-{direction}-{code.lower()}",
                    f"Overdue {direction} {code}",
                    charts.format_money(_balance(balances, code, direction, "overdue_amount"), code),
                )
    unclassified = balances[balances["direction"] == "unclassified"]
    if not unclassified.empty:
        st.warning(
            f"{int(unclassified['unpaid_payments'].sum() + unclassified['paid_payments'].sum())} payments "
            "have a payment type the dashboard does not classify as receivable or payable; they are shown "
            "as 'unclassified' in the charts."
        )
    left, right = st.columns(2)
    with left:
        chart(charts.paid_versus_unpaid(snapshot[queries.PAYMENTS_BY_TYPE_AND_STATUS.name], currency))
    with right:
        chart(charts.overdue_by_age(snapshot[queries.OVERDUE_BY_AGE.name], currency))


# Pipeline health --------------------------------------------------------------------------------------------


def _runs_frame(runs: list[JobRunRecord], now: dt.datetime) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "started": run.started_on,
                "job": run.job_name,
                "attempt": run.attempt + 1,
                "state": run.state,
                "duration_s": run.duration_seconds(now),
                "trigger": run.trigger_name,
                "rows_in": JobRunRecord.total(run.rows_in),
                "rows_out": JobRunRecord.total(run.rows_out),
                "error": (run.error_message or "").strip().splitlines()[0] if run.error_message else None,
                "run_id": run.run_id,
            }
            for run in runs
        ],
        columns=[
            "started",
            "job",
            "attempt",
            "state",
            "duration_s",
            "trigger",
            "rows_in",
            "rows_out",
            "error",
            "run_id",
        ],
    )


def _rows_per_table(runs: list[JobRunRecord]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "started": run.started_on,
                "run": f"{_utc(run.started_on)[5:16]} {run.run_id[:10]}",
                "table": table,
                "rows": rows,
            }
            for run in runs
            if run.rows_out
            for table, rows in run.rows_out.items()
        ],
        columns=["started", "run", "table", "rows"],
    )


def render_quality(config: DashboardConfig, runs: list[JobRunRecord]) -> None:
    """The latest data-quality report of each job that keeps one, against the share above which it alerts."""
    for job_name, max_share in quality_jobs(config.name_prefix).items():
        latest = latest_report(runs, job_name, max_share)
        with st.container(key=f"quality-{job_name}"):
            if latest is None:
                st.caption(
                    f"Data quality: no {job_name} run with a quality report "
                    + ("(Glue's job run history has none: see the CloudWatch metrics of the namespace "
                       "the job publishes to)." if config.job_runs_from_glue else "recorded yet.")
                )
                continue
            quality = latest.quality
            figure(
                f"quarantine-share-{job_name}",
                "Quarantined (latest transformation)",
                format_share(quality.share),
                help=f"Share of the new rows of {job_name} run {latest.run.run_id} held back by the quality "
                f"rules; a run above {format_share(max_share)} alerts",
            )
            message = (
                f"{quality.new_quarantined:,} of {quality.new_checked:,} new rows quarantined in run "
                f"{latest.run.run_id} (ended {_utc(latest.run.completed_on)} UTC); alerts above "
                f"{format_share(max_share)}."
            )
            if latest.exceeds:
                st.warning(message)
            else:
                st.caption(message)
            st.dataframe(report_frame(quality), hide_index=True)


def cached_freshness(config: DashboardConfig, now: dt.datetime) -> tuple[str, FreshnessView] | None:
    @st.cache_data(ttl=config.cache_seconds, show_spinner=False)
    def view(job_runs: str, name_prefix: str, metric_namespace: str | None, minute: dt.datetime):
        source = freshness_source(job_runs, name_prefix, metric_namespace)
        return None if source is None else (source.describe(), freshness_view(source, now))

    return view(config.job_runs, config.name_prefix, config.metric_namespace, now.replace(second=0, microsecond=0))


def render_promise(config: DashboardConfig, now: dt.datetime) -> None:
    """The freshness promise: the last load's lag against it, and the alarm's verdict."""
    try:
        found = cached_freshness(config, now)
    except FreshnessSourceError as error:
        found, problem = None, f"The freshness lag cannot be read: {error}"
    else:
        problem = None if found else (f"On AWS the page reads the freshness lag from CloudWatch: set "
                                      f"TOTES_METRIC_NAMESPACE (<project>/<environment>) to show it.")
    with st.container(key="freshness-promise"):
        if found is None:
            st.info(problem)
            return
        source, view = found
        latest = view.verdict.latest
        with figure_row():
            figure("freshness-lag", f"Freshness lag (promise {view.promise.describe()})",
                   format_lag(latest.lag) if latest else "none",
                   help="How long a change committed in the source could wait before the last load made it "
                        "visible in the warehouse (README, Freshness)")
            figure("freshness-promise", "Freshness promise", "kept" if view.verdict.kept else "BROKEN",
                   help="The CloudWatch alarm's rule: every load of the last promise-long period within the "
                        "promise, and at least one load in it")
        (st.caption if view.verdict.kept else st.error)(
            f"{'Kept' if view.verdict.kept else 'Broken'}: {view.verdict.reason}. Lags from the {source}.")


def render_health(config: DashboardConfig, snapshot: WarehouseSnapshot | None, now: dt.datetime) -> None:
    try:
        source, runs = cached_job_runs(config)
    except JobRunSourceError as error:
        with st.container(key="job-runs-status"):
            st.error(f"The job runs cannot be read: {error}")
        source, runs = None, []
    fresh = freshness(runs, config.load_job_name)
    newest = snapshot.contents["newest_last_updated"] if snapshot is not None else None
    newest_utc = newest.replace(tzinfo=dt.timezone.utc) if newest is not None else None
    recent = runs[:RECENT_RUNS_SHOWN]
    failed = [run for run in recent if run.failed]

    with figure_row():
        age = fresh.age(now)
        figure(
            "last-load-age",
            "Last successful load",
            format_age(age) + (" ago" if age is not None else ""),
            help=f"Time since the newest SUCCEEDED run of {config.load_job_name} ended",
        )
        figure(
            "newest-data-age",
            "Newest change loaded",
            (format_age(now - newest_utc) + " ago" if newest_utc else "none")
            if snapshot is not None
            else "unknown",
            help="Time since the newest last_updated (when the source changed, UTC) among the fact rows",
        )
        figure(
            "failed-runs",
            f"Failed runs (last {len(recent)})",
            charts.format_count(len(failed)),
            help="FAILED, TIMEOUT, STOPPED or ERROR among the most recent runs of every job",
        )
    render_promise(config, now)
    with st.container(key="freshness-details"):
        load = fresh.last_successful_load
        st.caption(
            (
                f"Last SUCCEEDED {config.load_job_name} run: {load.run_id}, "
                f"ended {_utc(load.completed_on)} UTC. "
                if load
                else f"No SUCCEEDED {config.load_job_name} run recorded. "
            )
            + (f"Newest source change loaded: {_utc(newest_utc)} UTC. " if newest_utc else "")
            + (f"Job runs from the {source}." if source else "")
        )
    latest_per_job: dict[str, JobRunRecord] = {}
    for run in runs:  # newest first: the first run seen of a job is its latest
        latest_per_job.setdefault(run.job_name, run)
    # Never left empty: Streamlit keeps a keyed container's old children when a rerun writes none into it.
    with st.container(key="failures"):
        failing = [run for run in latest_per_job.values() if run.failed]
        for run in failing:
            st.error(
                f"The latest run of {run.job_name} {run.state} (started {_utc(run.started_on)} UTC, "
                f"attempt {run.attempt + 1}): {run.error_message or 'no error message'}"
            )
        if not failing:
            st.caption("No job's latest run failed." if runs else "No job runs recorded yet.")
    if not runs:
        return
    st.subheader("Data quality")
    render_quality(config, runs)
    frame = _runs_frame(recent, now)
    left, right = st.columns(2)
    with left:
        chart(charts.job_run_durations(frame.dropna(subset=["started", "duration_s"])))
    with right:
        loads = frame[(frame["job"] == config.load_job_name) & (frame["state"] == SUCCEEDED)]
        rows = _rows_per_table([run for run in recent if run.run_id in set(loads["run_id"])])
        if not rows.empty:
            chart(
                charts.rows_per_table(
                    rows, f"Rows written per table by the recent {config.load_job_name} runs"
                )
            )
        else:
            st.info("No row counts recorded for the recent loads (Glue's job run history has none).")
    if failed:
        st.subheader("Failures")
        with st.container(key="failed-runs-table"):
            st.dataframe(
                frame[frame["run_id"].isin([run.run_id for run in failed])][
                    ["started", "job", "attempt", "state", "error", "run_id"]
                ],
                hide_index=True,
                column_config=RUN_COLUMNS,
            )
    st.subheader("Recent job runs")
    with st.container(key="recent-runs-table"):
        st.dataframe(frame, hide_index=True, column_config=RUN_COLUMNS)


# The page ---------------------------------------------------------------------------------------------------


def render_page(config: DashboardConfig) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    snapshot: WarehouseSnapshot | None = None
    problem: DashboardProblem | None = None
    try:
        snapshot = cached_snapshot(config, now.date())
    except DashboardProblem as error:
        problem = error
    with st.container(key="refresh-status"):
        st.caption(
            f"Read-only view of the warehouse{' ' + snapshot.source if snapshot else ''}, refreshed every "
            f"{config.refresh_seconds:g} s; this view {_utc(now)} UTC. Money is shown per currency and "
            "never added across currencies (no conversion rate is applied)."
        )
    # Always written into (as "failures" in render_health): a problem that went away must leave the page.
    with st.container(key="warehouse-status"):
        if problem is not None:
            st.error(problem.message)
        elif snapshot.is_empty:
            st.info(
                "The warehouse is empty: no sales orders, purchase orders or payments have been loaded yet. "
                "Run the pipeline (`make run` locally); the page shows the data once a load commits."
            )
        else:
            contents = snapshot.contents
            st.caption(
                f"Warehouse answered: {contents['sales_orders']:,} sales orders, "
                f"{contents['purchase_orders']:,} purchase orders, {contents['payments']:,} payments."
            )
    usable = snapshot is not None and not snapshot.is_empty
    currency = None
    if usable:
        currencies = snapshot.currencies
        default = DEFAULT_CURRENCY if DEFAULT_CURRENCY in currencies else currencies[0]
        currency = st.segmented_control(
            "Currency of the money charts", currencies, default=default, required=True, key="currency"
        )
    sales, purchases, payments, health = st.tabs(TABS)
    unavailable = (
        "No figures: the warehouse has not answered (see above)." if problem else "No data loaded yet."
    )
    for tab, render in ((sales, render_sales), (purchases, render_purchases), (payments, render_payments)):
        with tab:
            if usable:
                render(snapshot, currency)
            else:
                st.info(unavailable)
    with health:
        render_health(config, snapshot, now)


def main() -> None:
    st.set_page_config(page_title="Terrific Totes dashboard", layout="wide")
    st.title("Terrific Totes: sales, purchases and payments")
    try:
        config = DashboardConfig.from_env()
    except DashboardConfigError as error:
        st.error(f"The dashboard is misconfigured: {error}")
        return
    st.fragment(render_page, run_every=config.refresh_seconds)(config)


if __name__ == "__main__":
    main()
