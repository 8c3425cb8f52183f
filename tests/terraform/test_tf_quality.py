"""The data-quality report on AWS: the job that publishes it gets the namespace, the names and the permission,
and an alarm to the alert topic fires when a run's quarantine share is above the job's --max-quarantine-share.
Names and threshold come from workflow/workflow.json, as the job and the local runner read them."""

from __future__ import annotations

import json

import pytest

from tests.terraform.tfconfig import code_of, references, unquote
from tests.terraform.test_tf_evaluate import evaluate
from totes.transform.quality_metrics import METRIC_KEYS
from totes.transform.quality_report import MAX_QUARANTINE_SHARE_ARGUMENT


def _resource(tf, type_: str, name: str):
    (block,) = [block for block in tf.resources(type_) if block.name == name]
    return block


def test_the_quarantine_alarm_watches_the_share_metric_of_each_publishing_job_against_its_own_share(tf):
    alarm = _resource(tf, "aws_cloudwatch_metric_alarm", "quarantine_share").body

    assert alarm["for_each"] == "${local.quality_jobs}"
    assert alarm["metric_name"] == "${local.quality.metric_names.share}"
    assert alarm["namespace"] == "${local.metric_namespace}"
    assert alarm["dimensions"] == {"JobName": "${local.jobs[each.key].name}"}
    assert (unquote(alarm["comparison_operator"]), alarm["threshold"]) == ("GreaterThanThreshold", "${each.value}")
    assert unquote(alarm["statistic"]) == "Maximum"
    # A run with no new rows publishes no share: silence is not a breach.
    assert unquote(alarm["treat_missing_data"]) == "notBreaching"
    assert alarm["alarm_actions"] == ["${aws_sns_topic.alerts.arn}"]


def test_the_publishing_job_gets_the_namespace_and_the_names_of_the_quality_block(tf):
    arguments = _resource(tf, "aws_glue_job", "this").body["default_arguments"]

    assert '"--quality-metric-namespace" = local.metric_namespace' in arguments
    assert '"--quality-metric-names" = jsonencode(local.quality.metric_names)' in arguments
    assert "contains(keys(local.quality_jobs), each.key)" in arguments


def test_only_the_publishing_job_may_put_metrics_into_the_pipeline_namespace(tf):
    (document,) = [block for block in tf.data("aws_iam_policy_document") if block.name == "glue_job"]
    (statement,) = [s for s in document.body["statement"] if unquote(s["sid"]) == "PublishGlueJobMetrics"]
    (condition,) = statement["condition"]

    assert unquote(condition["variable"]) == "cloudwatch:namespace"
    assert {"local.quality_jobs", "local.metric_namespace"} <= references(condition["values"])
    assert "contains(keys(local.quality_jobs), each.key)" in code_of(condition["values"])


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    return evaluate(tmp_path_factory.mktemp("tf"), "{ jobs = local.quality_jobs, names = local.quality.metric_names }")


def test_the_publishing_jobs_and_their_share_come_from_the_workflow_arguments(evaluated, workflow):
    shares = {key: float(job["arguments"][MAX_QUARANTINE_SHARE_ARGUMENT])
              for key, job in workflow["jobs"].items() if MAX_QUARANTINE_SHARE_ARGUMENT in job["arguments"]}

    assert shares == {"transform": 0.05}
    assert evaluated["jobs"] == shares
    assert evaluated["names"] == workflow["quality"]["metric_names"]
    assert set(evaluated["names"]) == set(METRIC_KEYS)
    assert json.dumps(evaluated["names"])  # the job argument is its JSON
