"""The freshness promise end to end: the real jobs on real PostgreSQL and Spark, the load publishing its lag to
CloudWatch through boto3 (moto in server mode), as on AWS; the alarm's rule over the records stays silent."""

from __future__ import annotations

import datetime as dt
import urllib.request

import boto3
import pytest

from totes.freshness import OK, FreshnessLedger, FreshnessPromise, judge
from totes.settings import INGEST_JOB_NAME, LOAD_JOB_NAME, TRANSFORM_JOB_NAME
from totes.source.database import connect as source_connect
from totes.source.simulator import simulate
from totes.zones import ZoneStore

pytestmark = pytest.mark.slow

NAMESPACE, METRIC = "totesys/e2e", "FreshnessLagSeconds"


def test_each_load_records_and_publishes_the_lag_from_the_previous_load_s_bound(pipeline, moto_endpoint,
                                                                                monkeypatch):
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"))
    for name, value in {"AWS_ENDPOINT_URL": moto_endpoint, "AWS_DEFAULT_REGION": "eu-west-2",
                        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    source, _, run_workflow = pipeline
    publish = ["--freshness-metric-namespace", NAMESPACE, "--freshness-metric-name", METRIC]
    started = dt.datetime.now(dt.timezone.utc)

    run_workflow(*publish)
    with source_connect(source) as conn:
        simulate(conn, seed=7, new_sales_orders=3, new_purchase_orders=1, payments_to_mark_paid=4)
    run_workflow(*publish)

    zones = {name: ZoneStore.for_uri((run_workflow.written / name).as_uri()) for name in ("ingestion", "processed")}
    first, second = FreshnessLedger(zones["processed"], zones["ingestion"], LOAD_JOB_NAME, TRANSFORM_JOB_NAME,
                                    INGEST_JOB_NAME).records()
    assert started < first.visible_through < second.visible_through < second.loaded_at
    assert second.previous_visible_through == first.visible_through
    assert second.lag == second.loaded_at - first.visible_through
    assert judge([first, second], second.loaded_at, FreshnessPromise(dt.timedelta(minutes=30))).state == OK

    cloudwatch = boto3.client("cloudwatch")
    points = cloudwatch.get_metric_statistics(
        Namespace=NAMESPACE, MetricName=METRIC, Dimensions=[{"Name": "JobName", "Value": LOAD_JOB_NAME}],
        StartTime=started - dt.timedelta(minutes=1), EndTime=dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=1),
        Period=1, Statistics=["Maximum"])["Datapoints"]
    assert sorted(point["Maximum"] for point in points) == sorted(
        load.lag.total_seconds() for load in (first, second))
