"""The data-quality report: per rule and table, rows checked, passed, quarantined and released, with examples."""

from __future__ import annotations

import pytest

from tests.transform.rows import LAST_UPDATED, currency_verdicts_df, frame, good_row, keys_df, null_row, staged_df
from totes.transform.quality import FACT_PARENTS, QUALITY_RULES, judged_quality, table_rules, with_quality_verdicts
from totes.transform.quality_report import (
    DEFAULT_MAX_QUARANTINE_SHARE,
    RuleCounts,
    RuleGroup,
    RunQuality,
    TableQuality,
    all_passed,
    max_quarantine_share,
    table_quality,
)

MISSING_ID, UNKNOWN_CURRENCY_ID = 99, 2


def _judged_sales_orders(spark, *rows):
    parents = {parent: keys_df(spark, parent, 1) for _, parent in FACT_PARENTS["sales_order"] if parent != "currency"}
    currencies = currency_verdicts_df(spark, (1, "GBP", True), (UNKNOWN_CURRENCY_ID, "XXZ", False))
    return staged_df(spark, "sales_order", *rows).transform(with_quality_verdicts("sales_order", parents, currencies))


def test_a_batch_breaking_each_rule_is_counted_per_rule_in_judging_order(spark):
    judged = _judged_sales_orders(
        spark,
        good_row("sales_order", sales_order_id=1),
        good_row("sales_order", sales_order_id=2, units_sold=None),
        null_row("sales_order", sales_order_id=3),
        good_row("sales_order", sales_order_id=4, agreed_delivery_date=""),
        good_row("sales_order", sales_order_id=5, agreed_payment_date="2024-02-30"),
        good_row("sales_order", sales_order_id=6, agreed_delivery_date="2999-01-01"),
        good_row("sales_order", sales_order_id=7, units_sold=-3, design_id=MISSING_ID),
        good_row("sales_order", sales_order_id=8, design_id=MISSING_ID),
        good_row("sales_order", sales_order_id=9, currency_id=UNKNOWN_CURRENCY_ID),
        # Held by the previous run: 10 for a parent that has arrived since (released), 11 still negative.
        good_row("sales_order", sales_order_id=10),
        good_row("sales_order", sales_order_id=11, units_sold=-1),
    )
    held = frame(spark, [(10, LAST_UPDATED, "missing_parent"), (11, LAST_UPDATED, "negative_quantity")],
                 "sales_order_id int, last_updated timestamp, quarantine_rule string")

    report = judged_quality("sales_order", judged, held)

    assert (report.checked, report.passed, report.quarantined, report.released) == (11, 2, 9, 1)
    assert (report.new_checked, report.new_quarantined) == (9, 8)
    assert {rule: (c.checked, c.passed, c.quarantined, c.released) for rule, c in report.rules.items()} == {
        "missing_value": (11, 9, 2, 0),
        "blank_value": (9, 8, 1, 0),
        "unparsable_date": (8, 7, 1, 0),
        "date_out_of_range": (7, 6, 1, 0),
        "negative_quantity": (6, 4, 2, 0),
        "missing_parent": (4, 3, 1, 1),
        "unknown_currency": (3, 2, 1, 0),
    }
    # Examples name the row and give its whole reason (every rule it breaks).
    assert report.rules["negative_quantity"].examples == [
        "sales_order_id 11: units_sold is negative (-1)",
        "sales_order_id 7: units_sold is negative (-3); design_id 99 has no design row",
    ]
    assert report.rules["blank_value"].examples == ["sales_order_id 4: agreed_delivery_date is blank"]
    assert report.rules["missing_value"].examples[0] == "sales_order_id 2: units_sold is NULL"
    assert report.rules["missing_value"].examples[1].startswith("sales_order_id 3: created_at is NULL; ")
    assert report.quarantined_by_rule == {"missing_value": 2, "blank_value": 1, "unparsable_date": 1,
                                          "date_out_of_range": 1, "negative_quantity": 2, "missing_parent": 1,
                                          "unknown_currency": 1}


def test_a_batch_that_all_passes_has_every_rule_checking_every_row(spark):
    judged = _judged_sales_orders(spark, good_row("sales_order", sales_order_id=1),
                                  good_row("sales_order", sales_order_id=2))

    report = judged_quality("sales_order", judged)

    assert report == all_passed(table_rules("sales_order"), 2)
    assert report.rules["unknown_currency"] == RuleCounts(2, 2, 0, 0, [])
    assert report.share == 0.0


def test_payments_are_not_judged_by_the_non_negative_rule(spark):
    assert table_rules("payment") == tuple(rule for rule in QUALITY_RULES if rule != "negative_quantity")
    assert table_rules("purchase_order") == QUALITY_RULES


def test_the_report_survives_the_manifest_round_trip():
    report = table_quality(("missing_value", "missing_parent"), [
        RuleGroup(None, None, 7), RuleGroup("missing_parent", None, 2, ("sales_order_id 3: design_id 9 has no "
                                                                         "design row",)),
        RuleGroup(None, "missing_parent", 1)])

    assert TableQuality.from_dict(report.as_dict()) == report
    assert (report.checked, report.passed, report.quarantined, report.released, report.share) == (10, 8, 2, 1,
                                                                                                   2 / 9)


def test_rows_held_by_a_rule_the_table_does_not_have_are_refused():
    with pytest.raises(ValueError, match="negative_quantity"):
        table_quality(("missing_value",), [RuleGroup("negative_quantity", None, 1)])


def _run(new_checked: int, new_quarantined: int, held_again: int = 0) -> RunQuality:
    groups = [RuleGroup(None, None, new_checked - new_quarantined), RuleGroup("missing_parent", None, new_quarantined),
              RuleGroup("missing_parent", "missing_parent", held_again)]
    return RunQuality({"fact_sales_order": table_quality(("missing_parent",), [g for g in groups if g.rows])})


def test_a_run_exceeds_the_share_only_above_it_and_only_with_new_rows():
    assert _run(100, 6).exceeds(0.05)
    assert not _run(100, 5).exceeds(0.05)  # exactly at the share is not above it
    assert not _run(100, 0).exceeds(0.0)
    assert not RunQuality({}).exceeds(0.0)
    # Rows held since earlier runs are judged again but do not count towards the share.
    assert not _run(20, 0, held_again=10).exceeds(0.05)


def test_the_run_report_is_read_from_manifest_details_of_the_facts_only():
    report = all_passed(("missing_value",), 3)
    details = {"fact_payment": {"quality": report.as_dict()}, "dim_date": {"status": "written"}, "fact_x": {}}

    assert RunQuality.of_details(details).tables == {"fact_payment": report}


@pytest.mark.parametrize("text", ["1.5", "-0.1", "five percent", "nan"])
def test_a_max_share_outside_zero_to_one_is_refused_naming_the_argument(text):
    with pytest.raises(ValueError, match="--max-quarantine-share must be a number from 0 to 1"):
        max_quarantine_share(text)


def test_the_max_share_defaults_when_absent_and_reads_a_number():
    assert max_quarantine_share(None) == max_quarantine_share("") == DEFAULT_MAX_QUARANTINE_SHARE
    assert max_quarantine_share("0.2") == 0.2
