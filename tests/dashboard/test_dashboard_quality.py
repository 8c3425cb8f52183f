"""The pipeline health page's data-quality report: which jobs keep one, their latest report, its table."""

from __future__ import annotations

import datetime as dt

from totes.dashboard.job_runs import record_from_glue_shape
from totes.dashboard.quality import latest_report, quality_jobs, report_frame
from totes.transform.quality_report import RuleGroup, table_quality


def _record(run_id: str, started: str, state: str = "SUCCEEDED", quality: dict | None = None):
    return record_from_glue_shape({"Id": run_id, "JobName": "totesys-transform", "JobRunState": state,
                                   "StartedOn": started, "CompletedOn": started, "Quality": quality})


def _quality(held: int) -> dict:
    report = table_quality(("missing_value", "missing_parent"), [
        RuleGroup(None, None, 40 - held),
        RuleGroup("missing_parent", None, held, ("sales_order_id 3: design_id 9 has no design row; units_sold "
                                                 "is negative (-1)", "sales_order_id 8: design_id 9 has no design row"))])
    return {"fact_sales_order": report.as_dict()}


def test_the_jobs_with_a_quarantine_share_come_from_the_workflow_definition():
    assert quality_jobs() == {"totesys-transform": 0.05}
    assert quality_jobs("totesys-dev") == {"totesys-dev-transform": 0.05}


def test_the_latest_successful_run_with_a_report_is_shown_and_judged_against_the_share():
    runs = [_record("jr_old", "2026-11-25T17:00:00", quality=_quality(4)),
            _record("jr_new", "2026-11-25T17:15:00", quality=_quality(1)),
            _record("jr_nothing_new", "2026-11-25T17:30:00"),
            _record("jr_failed", "2026-11-25T17:45:00", state="FAILED", quality=_quality(40))]

    latest = latest_report(runs, "totesys-transform", 0.05)

    assert latest.run.run_id == "jr_new" and latest.run.started_on == dt.datetime(2026, 11, 25, 17, 15,
                                                                                   tzinfo=dt.timezone.utc)
    assert (latest.quality.share, latest.exceeds) == (1 / 40, False)
    assert latest_report(runs[:1], "totesys-transform", 0.05).exceeds  # 4 of 40
    assert latest_report([], "totesys-transform", 0.05) is None


def test_the_report_table_has_a_row_per_table_and_per_rule_that_held_or_released_rows():
    frame = report_frame(latest_report([_record("jr", "2026-11-25T17:00:00", quality=_quality(2))],
                                       "totesys-transform", 0.05).quality)

    assert frame.to_dict("records") == [
        {"table": "fact_sales_order", "rule": "", "checked": 40, "passed": 38, "quarantined": 2, "released": 0,
         "examples": ""},
        {"table": "fact_sales_order", "rule": "missing_parent", "checked": 40, "passed": 38, "quarantined": 2,
         "released": 0, "examples": "sales_order_id 3: design_id 9 has no design row; units_sold is negative (-1)"
                                    " | sales_order_id 8: design_id 9 has no design row"},
    ]


def test_a_record_without_a_report_or_with_a_malformed_one_has_none():
    assert _record("jr", "2026-11-25T17:00:00").quality is None
    assert _record("jr", "2026-11-25T17:00:00", quality="broken").quality is None
