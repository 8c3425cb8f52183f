"""The quality report as CloudWatch metrics, published with a real boto3 client to moto's server."""

from __future__ import annotations

import datetime as dt
import json
import logging
import urllib.request
from decimal import Decimal

import boto3
import pytest

from tests.transform.conftest import PROCESSED_CATALOG, base_rows, ts
from totes.manifests import TableOutput
from totes.settings import REPO_DIR, TRANSFORM_JOB_NAME
from totes.transform.quality_metrics import log_run_quality, metric_names, publish_quality_metrics
from totes.transform.quality_report import RuleGroup, RunQuality, table_quality

NAMESPACE = "totesys/test"
WORKFLOW_NAMES = json.loads((REPO_DIR / "workflow" / "workflow.json").read_text())["quality"]["metric_names"]


@pytest.fixture
def cloudwatch(moto_endpoint, monkeypatch):
    """A boto3 CloudWatch client on the moto server (reset first); the job's own client finds it the same way."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"))
    for name, value in {"AWS_ENDPOINT_URL": moto_endpoint, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "eu-west-2"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return boto3.client("cloudwatch", region_name="eu-west-2")


def _value(cloudwatch, name: str, **dimensions: str) -> float | None:
    now = dt.datetime.now(dt.timezone.utc)
    points = cloudwatch.get_metric_statistics(
        Namespace=NAMESPACE, MetricName=name, Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
        StartTime=now - dt.timedelta(hours=1), EndTime=now + dt.timedelta(minutes=5), Period=3600,
        Statistics=["Maximum"])["Datapoints"]
    return points[0]["Maximum"] if points else None


def _quality() -> RunQuality:
    return RunQuality({
        "fact_sales_order": table_quality(("missing_value", "missing_parent"), [
            RuleGroup(None, None, 18), RuleGroup("missing_parent", None, 2), RuleGroup(None, "missing_parent", 1)]),
        "fact_payment": table_quality(("missing_value",), [RuleGroup(None, None, 10)]),
    })


def test_published_metrics_carry_the_reports_counts_under_the_workflows_names(cloudwatch):
    sent = publish_quality_metrics(cloudwatch, NAMESPACE, metric_names(json.dumps(WORKFLOW_NAMES)),
                                   "totesys-transform", _quality())

    job = {"JobName": "totesys-transform"}
    assert sent == 2 * 4 + 3 + 1
    assert _value(cloudwatch, "QualityRowsChecked", **job, Table="fact_sales_order") == 21
    assert _value(cloudwatch, "QualityRowsQuarantined", **job, Table="fact_sales_order") == 2
    assert _value(cloudwatch, "QualityRowsReleased", **job, Table="fact_sales_order") == 1
    assert _value(cloudwatch, "QualityRowsQuarantined", **job, Table="fact_sales_order", Rule="missing_parent") == 2
    assert _value(cloudwatch, "QualityRowsPassed", **job, Table="fact_payment") == 10
    assert _value(cloudwatch, "QuarantineShare", **job) == pytest.approx(2 / 30)


def test_a_run_with_no_new_rows_publishes_no_share(cloudwatch):
    quality = RunQuality({"fact_payment": table_quality(("missing_value",), [
        RuleGroup("missing_value", "missing_value", 3)])})

    publish_quality_metrics(cloudwatch, NAMESPACE, WORKFLOW_NAMES, "totesys-transform", quality)

    assert _value(cloudwatch, "QuarantineShare", JobName="totesys-transform") is None
    assert _value(cloudwatch, "QualityRowsQuarantined", JobName="totesys-transform", Table="fact_payment") == 3


@pytest.mark.parametrize("text, problem", [("{", "not JSON"), ('{"checked": "C"}', "lacks a name for passed")])
def test_metric_names_missing_or_malformed_are_refused(text, problem):
    with pytest.raises(ValueError, match=problem):
        metric_names(text)


def _tables(quality: RunQuality) -> dict[str, TableOutput]:
    return {name: TableOutput(name, 0, [], details={"quality": report.as_dict()})
            for name, report in quality.tables.items()}


def test_the_job_log_warns_above_the_share_and_stays_quiet_below(caplog, monkeypatch):
    # A job run earlier in the session configured the totes loggers not to propagate (logs.configure).
    monkeypatch.setattr(logging.getLogger("totes"), "propagate", True)
    with caplog.at_level(logging.INFO, logger="totes.transform"):
        log_run_quality(_tables(_quality()), max_share=0.05)
        log_run_quality(_tables(_quality()), max_share=0.1)

    above, below = [record for record in caplog.records if record.name == "totes.transform"]
    assert (above.levelno, above.getMessage()) == (logging.WARNING,
                                                   "quarantine share 6.7% above the configured 5.0%")
    assert (below.levelno, below.getMessage()) == (logging.INFO, "quality report")


def test_the_transformation_job_publishes_its_report_when_given_a_namespace(transform, cloudwatch):
    rows = base_rows()
    rows["purchase_order"].append((2, ts(), ts(), 2, 1, "", 10, Decimal("1.00"), 3, "2024-11-06", "2024-11-09", 1))
    transform.ingest(rows)

    transform.job.main(["transform_totesys.py", "--JOB_NAME", TRANSFORM_JOB_NAME, "--ingestion-zone",
                        transform.ingestion.uri, "--processed-zone", transform.processed.uri,
                        "--processed-catalog", PROCESSED_CATALOG,
                        "--job-bookmark-option", "job-bookmark-enable", "--quality-metric-namespace", NAMESPACE,
                        "--quality-metric-names", json.dumps(WORKFLOW_NAMES)])

    job = {"JobName": TRANSFORM_JOB_NAME}
    assert _value(cloudwatch, "QualityRowsQuarantined", **job, Table="fact_purchase_order", Rule="blank_value") == 1
    assert _value(cloudwatch, "QualityRowsChecked", **job, Table="fact_purchase_order") == 2
    assert _value(cloudwatch, "QuarantineShare", **job) == pytest.approx(1 / 7)
