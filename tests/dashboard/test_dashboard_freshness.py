"""The pipeline page's freshness promise: the loads' lags from the local records or from the CloudWatch metric
the load publishes (moto in server mode, a real boto3 client), judged by the alarm's rule."""

from __future__ import annotations

import datetime as dt
import urllib.request

import boto3
import pytest

from totes.dashboard.freshness import (
    CloudWatchFreshness,
    LedgerFreshness,
    format_lag,
    freshness_source,
    freshness_view,
)
from totes.freshness import ALARM, OK, FreshnessMetric, FreshnessReporter

from tests.freshness_manifests import LOAD, Pipeline, minutes

NAMESPACE, METRIC = "totesys/dev", "FreshnessLagSeconds"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def _naive(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=None)


@pytest.fixture
def cloudwatch(moto_endpoint):
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"))
    return boto3.client("cloudwatch", region_name="eu-west-2", endpoint_url=moto_endpoint,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def test_the_page_judges_the_local_records_by_the_alarm_s_rule(tmp_path):
    pipeline, now = Pipeline(tmp_path), _now()
    pipeline.cycle(_naive(now - minutes(20)), _naive(now - minutes(18)))
    latest = pipeline.cycle(_naive(now - minutes(5)), _naive(now - minutes(3)))

    view = freshness_view(LedgerFreshness(pipeline.ledger), now)

    assert view.verdict.state == OK
    assert view.verdict.latest == latest
    assert format_lag(latest.lag) == "17 min 05 s"


def test_the_page_shows_a_broken_promise_when_no_load_came_for_longer_than_it(tmp_path):
    pipeline, now = Pipeline(tmp_path), _now()
    pipeline.cycle(_naive(now - minutes(50)), _naive(now - minutes(48)))

    view = freshness_view(LedgerFreshness(pipeline.ledger), now)

    assert view.verdict.state == ALARM and "no load reported its lag" in view.verdict.reason


def test_on_aws_the_page_reads_the_lag_the_load_published(tmp_path, cloudwatch):
    pipeline, now = Pipeline(tmp_path), _now()
    pipeline.cycle(_naive(now - minutes(20)), _naive(now - minutes(18)))
    pipeline.ingest(_naive(now - minutes(5)), {"payment": _naive(now - minutes(5)) - dt.timedelta(seconds=5)})
    pipeline.transform(_naive(now - minutes(4)))
    manifest = pipeline.commit_load(_naive(now - minutes(3)), _naive(now - minutes(2)))
    published = FreshnessReporter(pipeline.ledger, FreshnessMetric(NAMESPACE, METRIC), cloudwatch).report(manifest)

    view = freshness_view(CloudWatchFreshness(NAMESPACE, METRIC, LOAD, cloudwatch), now)

    assert [load.lag for load in view.loads] == [published.lag]
    assert view.verdict.state == OK


def test_on_aws_without_the_namespace_the_page_has_no_source_and_says_so():
    assert freshness_source("glue", "totesys-dev", None) is None
    source = freshness_source("glue", "totesys-dev", NAMESPACE)
    assert source.describe() == "CloudWatch metric totesys/dev/FreshnessLagSeconds of totesys-dev-load"
