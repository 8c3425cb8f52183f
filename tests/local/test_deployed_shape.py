"""The deployed shape of terraform/ as tofu console evaluates it (totes/local/deployed_shape.py)."""

from __future__ import annotations

import json

from tests.local.test_metric_filters import LINES
from totes.local.metric_filters import matches


def test_the_shape_has_terraform_s_names_and_arguments_and_metric_patterns_the_evaluator_knows():
    from totes.local.deployed_shape import deployed_shape

    shape = deployed_shape()
    assert shape.bucket_names["ingestion"] == "totesys-dev-ingestion-123456789012-eu-west-2"
    ingest = shape.jobs["ingest"]
    assert ingest.arguments["--extra-py-files"] == "s3://totesys-dev-artifacts-123456789012-eu-west-2/lib/totes.zip"
    assert ingest.arguments["--custom-logGroup-prefix"] == "/aws-glue/jobs/totesys-dev-ingest"
    assert ingest.script_location.endswith("/glue_jobs/ingest_totesys.py")
    assert json.loads(shape.failure_event_pattern)["detail"]["jobName"] == sorted(j.name for j in shape.jobs.values())
    assert shape.failure_rule_name == "totesys-dev-glue-job-failure"
    assert set(shape.uploads.values()) >= {"dist/totes.zip", "glue_jobs/load_warehouse.py"}
    for spec in shape.log_metrics.values():
        matches(spec["pattern"], LINES[0])  # raises on a form the evaluator does not implement
