"""The freshness promise on AWS: the measuring job gets the metric's namespace and name and the permission to put
it, and an alarm to the alert topic fires on a lag over the promise or on no datapoint for a promise-long period.
The promise, the job and the metric's name come from workflow.json's freshness block, as the job and the local
runner read them."""

from __future__ import annotations

import pytest

from tests.terraform.test_tf_evaluate import evaluate
from tests.terraform.tfconfig import code_of, unquote
from totes.freshness import FreshnessPromise


def test_the_alarm_watches_the_measuring_job_s_lag_against_the_promise(tf):
    alarm = tf.get("resource", "aws_cloudwatch_metric_alarm", "freshness").body

    assert alarm["namespace"] == "${local.metric_namespace}"
    assert alarm["metric_name"] == "${local.freshness.metric_name}"
    assert alarm["dimensions"] == {"JobName": "${local.jobs[local.freshness.measured_by].name}"}
    assert unquote(alarm["statistic"]) == "Maximum"
    assert unquote(alarm["comparison_operator"]) == "GreaterThanThreshold"
    # Seconds, as the job publishes the lag; one period as long as the promise.
    assert alarm["threshold"] == alarm["period"] == "${local.freshness.promise_minutes * 60}"
    assert alarm["evaluation_periods"] == 1


def test_a_period_without_a_datapoint_alarms_the_schedule_stopped_or_a_job_hangs(tf):
    alarm = tf.get("resource", "aws_cloudwatch_metric_alarm", "freshness").body

    assert unquote(alarm["treat_missing_data"]) == "breaching"


def test_the_alarm_and_its_recovery_reach_the_alert_topic(tf):
    alarm = tf.get("resource", "aws_cloudwatch_metric_alarm", "freshness").body

    assert alarm["alarm_actions"] == ["${aws_sns_topic.alerts.arn}"]
    assert alarm["ok_actions"] == ["${aws_sns_topic.alerts.arn}"]
    # The topic policy admits alarms named with the environment's prefix only.
    assert unquote(alarm["alarm_name"]).startswith("${local.name_prefix}-")


def test_the_measuring_job_gets_the_metric_s_namespace_and_name(tf):
    arguments = tf.get("resource", "aws_glue_job", "this").body["default_arguments"]

    assert "each.key != local.freshness.measured_by ? {} :" in arguments
    assert '"--freshness-metric-namespace" = local.metric_namespace' in arguments
    assert '"--freshness-metric-name" = local.freshness.metric_name' in arguments


def test_the_measuring_job_may_put_metrics_into_the_pipeline_namespace_and_no_other(tf):
    (statement,) = [s for s in tf.get("data", "aws_iam_policy_document", "glue_job").body["statement"]
                    if unquote(s["sid"]) == "PublishGlueJobMetrics"]
    (condition,) = statement["condition"]

    assert [unquote(action) for action in statement["actions"]] == ["cloudwatch:PutMetricData"]
    assert (unquote(condition["test"]), unquote(condition["variable"])) == ("StringEquals", "cloudwatch:namespace")
    assert "each.key == local.freshness.measured_by ? [local.metric_namespace] : []" in code_of(condition["values"])


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    return evaluate(tmp_path_factory.mktemp("tf"), """{
      freshness = local.freshness, namespace = local.metric_namespace,
      load_arguments = local.jobs[local.freshness.measured_by].arguments }""")


def test_the_promise_and_the_metric_come_from_the_workflow_definition(evaluated, workflow):
    assert evaluated["freshness"] == workflow["freshness"]
    assert FreshnessPromise.from_definition(evaluated["freshness"]).max_lag.total_seconds() == 30 * 60
    assert evaluated["namespace"] == "totesys/dev"
    # The measuring job reads the manifests of both upstream jobs: its zones and names are its arguments.
    assert {"--ingestion-zone", "--processed-zone", "--ingest-job-name", "--transform-job-name"} <= set(
        evaluated["load_arguments"])
