"""The freshness lag each load achieves, measured from real manifests of the three jobs, the rule that judges it,
and the metric as a boto3 client sends it to CloudWatch (moto in server mode)."""

from __future__ import annotations

import datetime as dt
import json
import urllib.request

import boto3
import pytest
from botocore.config import Config

from totes import logs
from totes.freshness import (
    ALARM,
    OK,
    FreshnessMetric,
    FreshnessPromise,
    FreshnessReporter,
    ingestion_bound,
    judge,
    lag_distribution,
)
from totes.manifests import RunManifest, TableOutput

from tests.freshness_manifests import INGEST, LOAD, T0, Pipeline, minutes, utc

PROMISE = FreshnessPromise(dt.timedelta(minutes=30))


@pytest.fixture
def pipeline(tmp_path):
    return Pipeline(tmp_path)


def test_the_first_load_is_visible_through_its_read_s_bound(pipeline):
    first = pipeline.cycle(T0, T0 + minutes(2))

    assert first.visible_through == utc(T0 - dt.timedelta(seconds=5))
    assert first.previous_visible_through is None
    assert first.lag == minutes(2) + dt.timedelta(seconds=5)
    assert first.behind_source == dt.timedelta(seconds=5)
    assert first.age == minutes(2)


def test_a_load_s_lag_counts_from_the_previous_load_s_bound(pipeline):
    pipeline.cycle(T0, T0 + minutes(2))
    second = pipeline.cycle(T0 + minutes(15), T0 + minutes(17))

    # A change stamped just after 08:59:55 became visible only at 09:17.
    assert second.previous_visible_through == utc(T0 - dt.timedelta(seconds=5))
    assert second.visible_through == utc(T0 + minutes(15) - dt.timedelta(seconds=5))
    assert second.lag == minutes(17) + dt.timedelta(seconds=5)


def test_the_lowest_table_bound_is_what_the_warehouse_is_complete_through(pipeline):
    # An old open transaction held one table's bound back; a reconciliation-only table has no window at all.
    run_id = pipeline.ingest(T0, {"payment": T0 - minutes(7), "sales_order": T0 - dt.timedelta(seconds=5),
                                  "staff": None})
    pipeline.transform(T0 + minutes(1))

    measured = pipeline.load(T0 + minutes(2), T0 + minutes(3))

    assert measured.visible_through == utc(T0 - minutes(7))
    assert measured.ingestion_run_id == run_id
    assert measured.behind_source == minutes(7)


def test_a_load_with_nothing_new_keeps_the_bound_and_its_lag_grows(pipeline):
    pipeline.cycle(T0, T0 + minutes(2))
    pipeline.transform(T0 + minutes(20))  # the ingestion failed: the transformation found no new run
    idle = pipeline.load(T0 + minutes(20), T0 + minutes(40))

    assert idle.visible_through == utc(T0 - dt.timedelta(seconds=5))
    assert idle.lag == minutes(40) + dt.timedelta(seconds=5)
    assert idle.age == minutes(40)


def test_a_rewind_s_older_window_does_not_make_the_warehouse_older(pipeline):
    pipeline.cycle(T0, T0 + minutes(2))
    pipeline.ingest(T0 + minutes(10), {"payment": T0 - minutes(600)})  # a rewind of one table, days back
    pipeline.transform(T0 + minutes(11))

    after_rewind = pipeline.load(T0 + minutes(12), T0 + minutes(13))

    assert after_rewind.visible_through == utc(T0 - dt.timedelta(seconds=5))


def test_a_previous_load_without_a_record_is_measured_from_its_manifests(pipeline):
    pipeline.cycle(T0, T0 + minutes(2))
    pipeline.ingest(T0 + minutes(15), {"payment": T0 + minutes(15) - dt.timedelta(seconds=5)})
    pipeline.transform(T0 + minutes(16))
    pipeline.commit_load(T0 + minutes(16), T0 + minutes(17))  # killed before its record
    third = pipeline.cycle(T0 + minutes(30), T0 + minutes(32))

    assert third.previous_visible_through == utc(T0 + minutes(15) - dt.timedelta(seconds=5))
    assert [m.load_run_id for m in pipeline.ledger.records()][-1] == third.load_run_id


def test_records_round_trip_and_come_back_in_run_order(pipeline):
    measured = [pipeline.cycle(T0 + minutes(15 * n), T0 + minutes(15 * n + 2)) for n in range(3)]

    assert pipeline.ledger.records() == measured


def test_a_load_before_any_ingested_row_has_no_lag(pipeline):
    pipeline.transform(T0)
    nothing = pipeline.load(T0, T0 + minutes(1))

    assert nothing.visible_through is None and nothing.lag is None


def test_an_ingestion_run_without_windows_has_no_bound():
    manifest = RunManifest(INGEST, "r", "t", "t", "job-bookmark-enable", None, {"staff": TableOutput("staff", 0)})

    assert ingestion_bound(manifest) is None


# --- the rule ------------------------------------------------------------------------------------------------


def test_the_rule_is_silent_while_every_recent_load_keeps_the_promise(pipeline):
    loads = [pipeline.cycle(T0 + minutes(15 * n), T0 + minutes(15 * n + 2)) for n in range(3)]

    verdict = judge(loads, utc(T0 + minutes(40)), PROMISE)

    assert verdict.state == OK and verdict.kept
    assert verdict.worst_lag == minutes(17) + dt.timedelta(seconds=5)


def test_the_rule_alarms_on_a_load_whose_lag_exceeds_the_promise(pipeline):
    pipeline.cycle(T0, T0 + minutes(2))
    late = pipeline.cycle(T0 + minutes(30), T0 + minutes(33))  # 33 min after 08:59:55

    verdict = judge(pipeline.ledger.records(), utc(T0 + minutes(34)), PROMISE)

    assert verdict.state == ALARM
    assert late.load_run_id in verdict.reason and "over the promise of 30 min" in verdict.reason


def test_the_rule_alarms_when_no_load_reported_for_longer_than_the_promise(pipeline):
    pipeline.cycle(T0, T0 + minutes(2))

    assert judge(pipeline.ledger.records(), utc(T0 + minutes(31)), PROMISE).state == OK
    stopped = judge(pipeline.ledger.records(), utc(T0 + minutes(33)), PROMISE)
    assert stopped.state == ALARM and "no load reported its lag within the last 30 min" in stopped.reason


def test_the_rule_alarms_before_any_load_was_recorded():
    verdict = judge([], utc(T0), PROMISE)

    assert verdict.state == ALARM and "none recorded yet" in verdict.reason


def test_the_promise_comes_from_the_definition_and_refuses_a_nonsense_value():
    assert FreshnessPromise.from_definition({"promise_minutes": 30}) == PROMISE
    for bad in (0, -5, 1.5, "30"):
        with pytest.raises(ValueError, match="promise_minutes"):
            FreshnessPromise.from_definition({"promise_minutes": bad})


def test_the_distribution_gives_median_95th_percentile_and_maximum(pipeline):
    loads = [pipeline.cycle(T0 + minutes(15 * n), T0 + minutes(15 * n + 1 + n % 3)) for n in range(20)]

    distribution = lag_distribution(loads)

    lags = sorted(m.lag.total_seconds() for m in loads)
    assert distribution["loads"] == 20
    assert distribution["median"] == (lags[9] + lags[10]) / 2
    assert distribution["p95"] == lags[18]
    assert distribution["max"] == lags[-1]


# --- the metric, as boto3 sends it -------------------------------------------------------------------------


@pytest.fixture
def cloudwatch(moto_endpoint):
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"))
    return boto3.client("cloudwatch", region_name="eu-west-2", endpoint_url=moto_endpoint,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def test_each_load_publishes_its_lag_as_the_metric_the_alarm_watches(pipeline, cloudwatch):
    metric = FreshnessMetric("totesys/dev", "FreshnessLagSeconds")
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    pipeline.cycle(now - minutes(20), now - minutes(18))
    pipeline.ingest(now - minutes(5), {"payment": now - minutes(5) - dt.timedelta(seconds=5)})
    pipeline.transform(now - minutes(4))
    manifest = pipeline.commit_load(now - minutes(3), now - minutes(2))

    measured = FreshnessReporter(pipeline.ledger, metric, cloudwatch).report(manifest)

    stats = cloudwatch.get_metric_statistics(
        Namespace="totesys/dev", MetricName="FreshnessLagSeconds", Dimensions=[{"Name": "JobName", "Value": LOAD}],
        StartTime=utc(now - minutes(60)), EndTime=utc(now + minutes(1)), Period=60, Statistics=["Maximum"])
    assert [point["Maximum"] for point in stats["Datapoints"]] == [measured.lag.total_seconds()]
    assert stats["Datapoints"][0]["Unit"] == "Seconds"
    assert measured.lag == minutes(18) + dt.timedelta(seconds=5)


def test_a_metric_that_cannot_be_sent_is_logged_and_the_load_keeps_its_record(pipeline, capfd):
    unreachable = boto3.client("cloudwatch", region_name="eu-west-2", endpoint_url="http://127.0.0.1:9",
                               aws_access_key_id="testing", aws_secret_access_key="testing",
                               config=Config(retries={"max_attempts": 1}))
    pipeline.ingest(T0, {"payment": T0})
    pipeline.transform(T0)
    manifest = pipeline.commit_load(T0, T0 + minutes(1))

    logs.configure(job=LOAD)
    FreshnessReporter(pipeline.ledger, FreshnessMetric("totesys/dev", "FreshnessLagSeconds"),
                      unreachable).report(manifest)

    [line] = [json.loads(line) for line in capfd.readouterr().err.splitlines()
              if "freshness metric not published" in line]
    assert line["level"] == "ERROR" and "EndpointConnectionError" in line["error"]
    assert [m.load_run_id for m in pipeline.ledger.records()] == [manifest.run_id]
