"""The freshness promise on the pipeline page: the recent loads' lag, judged by the alarm's rule.

The loads' lags come from wherever they are kept:

- :class:`LedgerFreshness`: the load job's records in the processed zone (``totes.freshness``), for the local
  stack (the zones of workflow.json rendered for the local stack);
- :class:`CloudWatchFreshness`: the metric the load job publishes on AWS (namespace ``<project>/<environment>``,
  ``TOTES_METRIC_NAMESPACE``), the datapoints the CloudWatch alarm judges.

Either way the page applies :func:`totes.freshness.judge` with the promise of workflow.json's freshness block.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from totes import settings
from totes.freshness import FreshnessLedger, FreshnessPromise, FreshnessVerdict, LoadFreshness, judge
from totes.local.freshness_alarm import freshness_definition, workflow_ledger
from totes.local.workflow import load_workflow, local_workflow_variables

# How far back the page looks: enough for the rule's period and the recent loads' distribution.
LOOK_BACK = dt.timedelta(hours=24)


class FreshnessSourceError(RuntimeError):
    """The lags cannot be read; the message says from where and why."""


class FreshnessSource(Protocol):
    def describe(self) -> str:
        """Where the lags come from, for the page."""

    def loads(self, now: dt.datetime) -> list[LoadFreshness]:
        """The loads of the last :data:`LOOK_BACK`, oldest first."""


class LedgerFreshness:
    """The load job's freshness records in the zones of the local workflow."""

    def __init__(self, ledger: FreshnessLedger):
        self.ledger = ledger

    @classmethod
    def of_local_workflow(cls, name_prefix: str = settings.LOCAL_NAME_PREFIX) -> "LedgerFreshness":
        variables = {**local_workflow_variables(), "name_prefix": name_prefix}
        return cls(workflow_ledger(load_workflow(variables), freshness_definition(variables)))

    def describe(self) -> str:
        return f"freshness records of {self.ledger.load_job_name} in {self.ledger.processed_zone.uri}"

    def loads(self, now: dt.datetime) -> list[LoadFreshness]:
        try:
            records = self.ledger.records()
        except (OSError, ValueError, KeyError) as error:
            raise FreshnessSourceError(f"cannot read the freshness records in "
                                       f"{self.ledger.processed_zone.uri}: {error}") from None
        return [record for record in records if record.loaded_at > now - LOOK_BACK]


class CloudWatchFreshness:
    """The lag metric the load job publishes, one datapoint per load (per minute, its highest)."""

    def __init__(self, namespace: str, metric_name: str, load_job_name: str, client=None):
        self.namespace, self.metric_name, self.load_job_name = namespace, metric_name, load_job_name
        self.client = client

    def describe(self) -> str:
        return f"CloudWatch metric {self.namespace}/{self.metric_name} of {self.load_job_name}"

    def loads(self, now: dt.datetime) -> list[LoadFreshness]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            if self.client is None:
                import boto3

                self.client = boto3.client("cloudwatch")
            answer = self.client.get_metric_statistics(
                Namespace=self.namespace, MetricName=self.metric_name,
                Dimensions=[{"Name": "JobName", "Value": self.load_job_name}],
                StartTime=now - LOOK_BACK, EndTime=now, Period=60, Statistics=["Maximum"])
        except (BotoCoreError, ClientError) as error:
            raise FreshnessSourceError(f"cannot read {self.describe()}: {error}") from None
        points = sorted(answer.get("Datapoints", []), key=lambda point: point["Timestamp"])
        # A datapoint is a load's commit time and lag: what the rule needs (no bound is published).
        return [LoadFreshness(load_run_id=f"datapoint {point['Timestamp']:%H:%M} UTC",
                              loaded_at=point["Timestamp"].astimezone(dt.timezone.utc), visible_through=None,
                              ingestion_run_id=None, ingested_at=None,
                              previous_visible_through=point["Timestamp"].astimezone(dt.timezone.utc)
                              - dt.timedelta(seconds=point["Maximum"]))
                for point in points]


def freshness_source(job_runs: str, name_prefix: str, metric_namespace: str | None) -> FreshnessSource | None:
    """Where the page reads the lags: the metric on AWS (when its namespace is known), else the local records;
    None on AWS without a namespace."""
    definition = freshness_definition({**local_workflow_variables(), "name_prefix": name_prefix})
    if job_runs == "glue":
        if not metric_namespace:
            return None
        job = load_workflow({**local_workflow_variables(), "name_prefix": name_prefix}).jobs[definition["measured_by"]]
        return CloudWatchFreshness(metric_namespace, definition["metric_name"], job.name)
    return LedgerFreshness.of_local_workflow(name_prefix)


def promise() -> FreshnessPromise:
    return FreshnessPromise.from_definition(freshness_definition())


@dataclass(frozen=True)
class FreshnessView:
    """What the page shows: the rule's verdict over the loads, and the loads themselves."""

    promise: FreshnessPromise
    verdict: FreshnessVerdict
    loads: list[LoadFreshness]


def freshness_view(source: FreshnessSource, now: dt.datetime) -> FreshnessView:
    loads = source.loads(now)
    return FreshnessView(promise(), judge(loads, now, promise()), loads)


def format_lag(lag: dt.timedelta | None) -> str:
    if lag is None:
        return "-"
    minutes, seconds = divmod(int(round(lag.total_seconds())), 60)
    return f"{minutes} min {seconds:02d} s"
