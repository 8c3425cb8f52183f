"""The data-quality report of a run as CloudWatch metrics: what the transformation job publishes on AWS.

The names are defined once, in the ``quality`` block of ``workflow/workflow.json``: Terraform passes them to
the job (``--quality-metric-names``, with the environment's namespace as ``--quality-metric-namespace``) and
alarms on the share metric with the same names. Per fact table (dimensions ``JobName``, ``Table``): rows
checked, passed, quarantined and released; per table and rule (plus ``Rule``) the rows quarantined; per run
(``JobName`` only) the share of the run's new rows quarantined, only when the run judged new rows (a run with
nothing new publishes no share, and the alarm treats a missing share as fine).

Every table, rule and count is a custom metric CloudWatch bills monthly, so the per-rule metrics are the
quarantined rows only (33 metrics in all): the rest of a rule's counts are in the manifest's report.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

from totes.logs import log_event
from totes.manifests import TableOutput
from totes.transform.quality_report import RunQuality, format_share

logger = logging.getLogger("totes.transform")

COUNTS = ("checked", "passed", "quarantined", "released")
RULE_COUNTS = ("quarantined",)
METRIC_KEYS = (*COUNTS, "share")
# PutMetricData takes up to 1,000 data per request.
MAX_DATA_PER_REQUEST = 1000


def metric_names(text: str) -> dict[str, str]:
    """The ``metric_names`` of the workflow's ``quality`` block, as the job argument carries them (JSON)."""
    try:
        names = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"--quality-metric-names is not JSON: {error}") from None
    missing = [key for key in METRIC_KEYS if not isinstance(names, dict) or not names.get(key)]
    if missing:
        raise ValueError(f"--quality-metric-names lacks a name for {', '.join(missing)} (workflow/workflow.json, "
                         "quality.metric_names)")
    return {key: names[key] for key in METRIC_KEYS}


def metric_data(names: dict[str, str], job_name: str, quality: RunQuality, timestamp: dt.datetime) -> list[dict]:
    """The PutMetricData entries of one run's report."""

    def datum(key: str, value: float, **dimensions: str) -> dict:
        return {"MetricName": names[key], "Timestamp": timestamp, "Value": float(value),
                "Unit": "None" if key == "share" else "Count",
                "Dimensions": [{"Name": "JobName", "Value": job_name}]
                + [{"Name": name, "Value": value} for name, value in dimensions.items()]}

    data = []
    for table, report in quality.tables.items():
        data += [datum(key, getattr(report, key), Table=table) for key in COUNTS]
        for rule, counts in report.rules.items():
            data += [datum(key, getattr(counts, key), Table=table, Rule=rule) for key in RULE_COUNTS]
    if quality.new_checked:
        data.append(datum("share", quality.share))
    return data


def publish_quality_metrics(cloudwatch, namespace: str, names: dict[str, str], job_name: str,
                            quality: RunQuality, timestamp: dt.datetime | None = None) -> int:
    """Put the run's report into CloudWatch (a boto3 ``cloudwatch`` client); returns how many data were sent."""
    data = metric_data(names, job_name, quality, timestamp or dt.datetime.now(dt.timezone.utc))
    for start in range(0, len(data), MAX_DATA_PER_REQUEST):
        cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[start:start + MAX_DATA_PER_REQUEST])
    log_event(logger, "quality metrics published", namespace=namespace, metrics=len(data),
              quarantine_share=round(quality.share, 4))
    return len(data)


def log_run_quality(tables: dict[str, TableOutput], max_share: float) -> RunQuality:
    """The run's report from its committed tables, logged; a WARNING when its quarantine share is above
    ``max_share`` (on AWS the alarm on the share metric alerts; locally the runner does)."""
    quality = RunQuality.of_details({name: output.details for name, output in tables.items()})
    fields = dict(quarantine_share=round(quality.share, 4), max_quarantine_share=max_share,
                  new_rows=quality.new_checked, new_rows_quarantined=quality.new_quarantined,
                  tables={table: report.quarantined_by_rule for table, report in quality.tables.items()})
    if quality.exceeds(max_share):
        log_event(logger, f"quarantine share {format_share(quality.share)} above the configured "
                          f"{format_share(max_share)}", logging.WARNING, **fields)
    else:
        log_event(logger, "quality report", **fields)
    return quality
