"""`status`: the freshness promise, the last load's lag against it and the recent loads' distribution, from the
load's records in the zones the workflow's load job names."""

from __future__ import annotations

import datetime as dt

from totes.freshness import FreshnessPromise
from totes.local.status import FreshnessRecords, format_status, read_freshness
from totes.local.workflow import load_workflow, local_workflow_variables

from tests.freshness_manifests import T0, Pipeline, minutes, utc
from tests.local.fake_jobs import APPEND_NAME, chain_workflow

PROMISE = FreshnessPromise(dt.timedelta(minutes=30))


def _promise_lines(text: str) -> list[str]:
    return text[text.index("Freshness promise"):].splitlines()


def _status(tmp_path, records, now) -> str:
    workflow = chain_workflow(tmp_path, {"load": APPEND_NAME})
    return format_status(workflow, [], [], [], now, freshness=FreshnessRecords(PROMISE, records))


def test_status_shows_the_last_load_s_lag_against_the_promise(tmp_path):
    pipeline = Pipeline(tmp_path)
    for n in range(3):
        latest = pipeline.cycle(T0 + minutes(15 * n), T0 + minutes(15 * n + 2))

    lines = _promise_lines(_status(tmp_path, pipeline.ledger.records(), utc(T0 + minutes(33))))

    assert lines[0].startswith("Freshness promise (a source change visible in the warehouse within 30 min): KEPT")
    assert f"{latest.load_run_id}, committed 1 min ago (2026-12-04 09:32:00 UTC)" in lines[1]
    assert lines[2].split()[-3:] == ["2026-12-04", "09:29:55", "UTC"]
    assert "17 min 5 s of 30 min (read 5.0 s behind the source, committed 2 min 0 s after the read)" in lines[3]
    assert "lag of the last 3 loads" in lines[4] and "highest 17 min 5 s" in lines[4]


def test_status_says_the_promise_is_broken_when_the_loads_stopped(tmp_path):
    pipeline = Pipeline(tmp_path)
    pipeline.cycle(T0, T0 + minutes(2))

    lines = _promise_lines(_status(tmp_path, pipeline.ledger.records(), utc(T0 + minutes(45))))

    assert "BROKEN, no load reported its lag within the last 30 min (the last at 2026-12-04 09:02:00 UTC)" in lines[0]


def test_status_before_any_load_says_none_measured_yet(tmp_path):
    lines = _promise_lines(_status(tmp_path, [], utc(T0)))

    assert lines[1] == "  no load has measured its lag yet"


def test_the_local_workflow_s_load_names_where_the_records_are_and_a_test_workflow_has_none(tmp_path):
    assert read_freshness(load_workflow(local_workflow_variables())).promise == PROMISE
    assert read_freshness(chain_workflow(tmp_path, {"load": APPEND_NAME})) is None
