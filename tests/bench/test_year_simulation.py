"""The year-of-runs benchmark's own logic (bench/year_simulation.py, bench/year_report.py): the plan's phases, the
rows of a simulated run, the run-folder layout it writes for "before", and the targets it reports."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from bench.year_report import targets
from bench.year_simulation import DeltaRows, RunFolderLayout, YearPlan
from totes.star import FACT_PAYMENT, FACT_PURCHASE_ORDER, FACT_SALES_ORDER

AT = dt.datetime(2025, 3, 1, 10, 15, tzinfo=dt.timezone.utc)


def _base() -> dict[str, list[dict]]:
    """One real-shaped row per fact, and two payments: one still unpaid (the pool of payments to mark paid)."""
    created = dict(created_date=dt.date(2024, 11, 3), created_time="14:20:49.962",
                   last_updated_date=dt.date(2024, 11, 3), last_updated_time="14:20:49.962")
    return {
        FACT_SALES_ORDER.name: [dict(sales_order_id=11292, **created, sales_staff_id=7, counterparty_id=12,
                                     units_sold=55000, unit_price=Decimal("3.20"), currency_id=2, design_id=8,
                                     agreed_payment_date=dt.date(2024, 11, 7), agreed_delivery_date=dt.date(2024, 11, 6),
                                     agreed_delivery_location_id=8)],
        FACT_PURCHASE_ORDER.name: [dict(purchase_order_id=4651, **created, staff_id=3, counterparty_id=5,
                                        item_code="ZDOI5EA", item_quantity=371, item_unit_price=Decimal("361.39"),
                                        currency_id=1, agreed_delivery_date=dt.date(2024, 11, 9),
                                        agreed_payment_date=dt.date(2024, 11, 8), agreed_delivery_location_id=6)],
        FACT_PAYMENT.name: [dict(payment_id=15843, **created, transaction_id=15843, counterparty_id=12,
                                 payment_amount=Decimal("176000.00"), currency_id=2, payment_type_id=3, paid=False,
                                 payment_date=dt.date(2024, 11, 8)),
                            dict(payment_id=15842, **created, transaction_id=15842, counterparty_id=5,
                                 payment_amount=Decimal("134076.69"), currency_id=1, payment_type_id=4, paid=True,
                                 payment_date=dt.date(2024, 11, 5))],
    }


def test_a_year_plan_commits_its_first_and_last_days_at_cadence_and_the_rest_in_steps():
    plan = YearPlan(first_days=1, last_days=6, step_days=30)
    assert plan.runs == 35_040
    assert [plan.at_cadence(day) for day in (0, 1, 358, 359, 364)] == [True, False, False, True, True]
    assert (plan.span_end(1), plan.span_end(30), plan.span_end(31), plan.span_end(358)) == (30, 30, 60, 358)
    assert plan.span_end(0) == 0 and plan.span_end(364) == 364
    assert plan.before_checkpoint_days() == [0, 6, 30, 91, 182, 364]


def test_a_simulated_run_adds_new_orders_and_payments_and_marks_an_older_payment_paid():
    delta = DeltaRows(_base())
    rows = delta.run(0, AT)
    sales, purchases, payments = (rows[f.name] for f in (FACT_SALES_ORDER, FACT_PURCHASE_ORDER, FACT_PAYMENT))
    assert [row["sales_order_id"] for row in sales] == [11293, 11294, 11295, 11296, 11297]
    assert [row["purchase_order_id"] for row in purchases] == [4652, 4653]
    assert all(row["created_date"] == AT.date() and row["created_time"] == "10:15:00.000" for row in sales + purchases)
    new, paid = payments[:5], payments[5:]
    assert all(not row["paid"] and row["payment_date"] > AT.date() for row in new)
    # Only the base's unpaid payment can be marked paid: a new version of it, in the month it was created.
    assert [(row["payment_id"], row["paid"], row["created_date"], row["last_updated_date"]) for row in paid] == [
        (15843, True, dt.date(2024, 11, 3), AT.date())]
    # The next run marks the first run's new payments paid.
    later = delta.run(1, AT + dt.timedelta(minutes=15))
    assert [row["payment_id"] for row in later[FACT_PAYMENT.name][5:]] == [row["payment_id"] for row in new]


def test_simulated_runs_are_the_same_rows_whenever_they_are_made():
    first, second = DeltaRows(_base()), DeltaRows(_base())
    assert [first.run(n, AT) for n in range(3)] == [second.run(n, AT) for n in range(3)]


def test_the_run_folder_layout_adds_a_partition_per_run_and_month_and_the_named_queries_read_it(tmp_path):
    layout = RunFolderLayout(tmp_path / "before")
    base = _base()
    layout.write_facts("base", base)
    delta = DeltaRows(base)
    layout.write_facts("sim-000000", delta.run(0, AT))
    figures = layout.figures({})
    # Payments: the base's month, then the run's new payments (March) and the paid version (November): 3 partitions.
    assert figures["tables"][FACT_PAYMENT.name]["partitions"] == 3
    assert figures["tables"][FACT_SALES_ORDER.name]["data_files"] == 2
    with layout.connect() as connection:
        assert connection.execute("SELECT count(*) FROM fact_sales_order").fetchone()[0] == 6
        assert connection.execute("SELECT count(DISTINCT run_id) FROM fact_payment").fetchone()[0] == 2


def _checkpoint(day: int, files: int, query_seconds: float, small: float) -> dict:
    return {"day": day, "tables": {"fact_payment": {"data_files": files, "partitions": 1}},
            "query_seconds": {"top_designs": query_seconds}, "small_delta_seconds": small}


def test_the_report_meets_the_flat_targets_only_within_one_and_a_half_times_the_first_day():
    report = {"year": {"checkpoints": [_checkpoint(1, 100, 0.2, 1.0), _checkpoint(365, 140, 0.31, 1.2)]},
              "small_delta": {"before": {"fresh_best": {"seconds": 40.0}, "warm_best": {"seconds": 12.0}},
                              "after": {"fresh_best": {"seconds": 42.0}, "warm_best": {"seconds": 11.0}}}}
    met = {row["figure"]: (row["measured"], row["met"]) for row in targets(report)}
    assert met["fact data files, last day / first day"] == (1.4, True)
    assert met["named queries, last day / first day"] == (1.55, False)
    assert met["small-delta workflow run (fresh process), after / before"] == (1.05, False)
    assert met["small-delta workflow run (warm process), after / before"][1] is None
