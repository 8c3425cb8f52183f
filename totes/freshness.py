"""The freshness promise: a change committed in the source is visible in the warehouse within a set time.

The promise and its metric are defined once, in the ``freshness`` block of ``workflow/workflow.json``: Terraform
reads it for the CloudWatch alarm and the load job's permission, the local runner and ``make status`` and the
dashboard read it for the same rule (README, "Freshness"). This module holds what they share: the measurement,
its record, the metric datum and the rule.

What a load measures, from the manifests alone (never from how the load plans its batch):

- **visible through**: after the load commits, every source change stamped at or before this moment is in the
  warehouse. It is the read window's upper bound (``to_inclusive``, the lowest over the run's tables) of the
  ingestion runs the loaded transform runs consumed, and never moves backwards: a rewind re-reads an old
  window, which makes nothing older.
- **lag**: the load's commit time minus the *previous* load's "visible through": the longest any change this
  load made visible can have waited (one stamped just after the previous bound). That is the promise's own
  statement, and a load that brought nothing new reports a lag that keeps growing. Its two parts: how far the
  read stayed behind the source (``behind_source``: the read lag, a transaction held open) and the wall-clock
  time from that read to the warehouse commit (``age``: the schedule's wait, transformation, load).

The rule (:func:`judge`), as the CloudWatch alarm evaluates it: over the last promise-long period, ALARM if any
load's lag exceeds the promise, or if no load reported at all (CloudWatch's ``treat_missing_data =
breaching``: the schedule stopped, a job hangs or keeps failing); OK otherwise.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import NamedTuple

from totes.logs import log_event
from totes.manifests import RunManifest, list_manifest_run_ids, read_manifest
from totes.zones import ZoneStore

logger = logging.getLogger("totes.freshness")

# One record per load run, next to the load's bookmark in the processed zone (the crawler leaves _state out).
RECORD_PREFIX = "_state/freshness/"
OK, ALARM = "OK", "ALARM"
# The source's last_updated and the read bounds carry no time zone; the pipeline's clocks are UTC.
_BOUND_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


@dataclass(frozen=True)
class FreshnessPromise:
    """The longest acceptable lag between a change committed in the source and its visibility in the warehouse."""

    max_lag: dt.timedelta

    @classmethod
    def from_definition(cls, definition: dict) -> "FreshnessPromise":
        """From the ``freshness`` block of workflow/workflow.json."""
        minutes = definition["promise_minutes"]
        if not isinstance(minutes, int) or minutes < 1:
            raise ValueError(f"freshness.promise_minutes must be a whole number of minutes >= 1, got {minutes!r}")
        return cls(dt.timedelta(minutes=minutes))

    def describe(self) -> str:
        return f"{int(self.max_lag.total_seconds() // 60)} min"


@dataclass(frozen=True)
class LoadFreshness:
    """What one load run achieved (times in UTC)."""

    load_run_id: str
    loaded_at: dt.datetime  # the load's manifest: written right after the warehouse COMMIT
    visible_through: dt.datetime | None  # None: no ingested row has reached the warehouse yet
    ingestion_run_id: str | None  # the ingestion run whose bound ``visible_through`` is
    ingested_at: dt.datetime | None  # when that ingestion run started reading the source
    previous_visible_through: dt.datetime | None  # the previous load's; None for the first load

    @property
    def lag(self) -> dt.timedelta | None:
        """The longest a change this load made visible can have waited; the first load counts from its own
        bound (changes before the first load have no earlier visibility to wait from)."""
        since = self.previous_visible_through or self.visible_through
        return None if since is None else self.loaded_at - since

    @property
    def behind_source(self) -> dt.timedelta | None:
        """How far the read's bound stayed behind the source's present when the ingestion read it."""
        if self.ingested_at is None or self.visible_through is None:
            return None
        return self.ingested_at - self.visible_through

    @property
    def age(self) -> dt.timedelta | None:
        """Wall-clock time from the ingestion's read to this load's commit."""
        return None if self.ingested_at is None else self.loaded_at - self.ingested_at

    def to_dict(self) -> dict:
        seconds = {name: None if value is None else round(value.total_seconds(), 3)
                   for name, value in (("lag_seconds", self.lag), ("behind_source_seconds", self.behind_source),
                                       ("age_seconds", self.age))}
        return {
            "load_run_id": self.load_run_id,
            "loaded_at": self.loaded_at.isoformat(),
            "visible_through": _iso(self.visible_through),
            "ingestion_run_id": self.ingestion_run_id,
            "ingested_at": _iso(self.ingested_at),
            "previous_visible_through": _iso(self.previous_visible_through),
            **seconds,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "LoadFreshness":
        return cls(
            load_run_id=data["load_run_id"],
            loaded_at=_utc(data["loaded_at"]),
            visible_through=_utc(data.get("visible_through")),
            ingestion_run_id=data.get("ingestion_run_id"),
            ingested_at=_utc(data.get("ingested_at")),
            previous_visible_through=_utc(data.get("previous_visible_through")),
        )


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _utc(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    moment = dt.datetime.fromisoformat(value)
    return moment.replace(tzinfo=dt.timezone.utc) if moment.tzinfo is None else moment.astimezone(dt.timezone.utc)


def ingestion_bound(manifest: RunManifest) -> dt.datetime | None:
    """The moment an ingestion run read every table up to: the lowest ``to_inclusive`` of its windows."""
    bounds = [dt.datetime.strptime(output.window["to_inclusive"], _BOUND_FORMAT).replace(tzinfo=dt.timezone.utc)
              for output in manifest.tables.values() if output.window and output.window.get("to_inclusive")]
    return min(bounds) if bounds else None


class _Bound(NamedTuple):
    at: dt.datetime  # every change stamped at or before it is in the warehouse
    ingestion_run_id: str
    ingested_at: dt.datetime  # when that ingestion run started reading the source


class FreshnessLedger:
    """Measures loads from the manifests of the three jobs and keeps one record per load.

    The ingestion manifests are in the ingestion zone; the transformation's and the load's, and the records,
    in the processed zone.
    """

    def __init__(self, processed_zone: ZoneStore, ingestion_zone: ZoneStore, load_job_name: str,
                 transform_job_name: str, ingest_job_name: str):
        self.processed_zone = processed_zone
        self.ingestion_zone = ingestion_zone
        self.load_job_name = load_job_name
        self.transform_job_name = transform_job_name
        self.ingest_job_name = ingest_job_name

    @classmethod
    def for_load_arguments(cls, load_job_name: str, arguments: dict[str, str]) -> "FreshnessLedger":
        """The ledger of a load job, from its job arguments as workflow.json names them."""
        return cls(ZoneStore.for_uri(arguments["--processed-zone"]), ZoneStore.for_uri(arguments["--ingestion-zone"]),
                   load_job_name, arguments["--transform-job-name"], arguments["--ingest-job-name"])

    def _record_key(self, load_run_id: str) -> str:
        return f"{RECORD_PREFIX}{self.load_job_name}/{load_run_id}.json"

    def measure(self, load: RunManifest) -> LoadFreshness:
        previous = self._previous_bound(load.run_id)
        newest = self._newest_bound_loaded_by(load)
        reached = newest if newest is not None and (previous is None or newest.at > previous.at) else previous
        if reached is None:
            return LoadFreshness(load.run_id, _utc(load.finished_at), None, None, None, None)
        return LoadFreshness(load.run_id, _utc(load.finished_at), reached.at, reached.ingestion_run_id,
                             reached.ingested_at, previous.at if previous is not None else None)

    def record(self, measurement: LoadFreshness) -> str:
        key = self._record_key(measurement.load_run_id)
        self.processed_zone.write_text(key, json.dumps(measurement.to_dict(), indent=2))
        return key

    def records(self) -> list[LoadFreshness]:
        """Every load's record, in run order."""
        prefix = f"{RECORD_PREFIX}{self.load_job_name}/"
        keys = sorted(key for key in self.processed_zone.list_keys(prefix) if key.endswith(".json"))
        return [LoadFreshness.from_dict(json.loads(self.processed_zone.read_text(key))) for key in keys]

    def _newest_bound_loaded_by(self, load: RunManifest) -> _Bound | None:
        """The highest ingestion bound among the ingestion runs of the transform runs this load took in."""
        newest = None
        for transform_run_id in load.inputs:
            transform = read_manifest(self.processed_zone, self.transform_job_name, transform_run_id)
            for ingestion_run_id in transform.inputs:
                ingestion = read_manifest(self.ingestion_zone, self.ingest_job_name, ingestion_run_id)
                bound = ingestion_bound(ingestion)
                if bound is not None and (newest is None or bound > newest.at):
                    newest = _Bound(bound, ingestion_run_id, _utc(ingestion.started_at))
        return newest

    def _previous_bound(self, load_run_id: str) -> _Bound | None:
        """The previous load's visible-through, from its record.

        A load that left no record (killed between its manifest and its record, or older than the records) is
        read through its manifests instead, back to the newest one that took in an ingestion run: the bounds
        only grow, so that one's is the previous visible-through (a rewind's older bound can only make the
        lag found longer, never hide one).
        """
        earlier = [run_id for run_id in list_manifest_run_ids(self.processed_zone, self.load_job_name)
                   if run_id < load_run_id]
        for run_id in reversed(earlier):
            key = self._record_key(run_id)
            if self.processed_zone.exists(key):
                previous = LoadFreshness.from_dict(json.loads(self.processed_zone.read_text(key)))
                if previous.visible_through is None:
                    return None
                return _Bound(previous.visible_through, previous.ingestion_run_id, previous.ingested_at)
            newest = self._newest_bound_loaded_by(read_manifest(self.processed_zone, self.load_job_name, run_id))
            if newest is not None:
                return newest
        return None


@dataclass(frozen=True)
class FreshnessMetric:
    """The CloudWatch metric a load publishes: its lag in seconds, with the load job's name as JobName."""

    namespace: str
    name: str

    def datum(self, measurement: LoadFreshness, job_name: str) -> dict:
        return {
            "MetricName": self.name,
            "Dimensions": [{"Name": "JobName", "Value": job_name}],
            "Timestamp": measurement.loaded_at,
            "Value": measurement.lag.total_seconds(),
            "Unit": "Seconds",
        }


class FreshnessReporter:
    """Run by the load job after its manifest: measure, keep the record, log it and publish the metric."""

    def __init__(self, ledger: FreshnessLedger, metric: FreshnessMetric | None = None, cloudwatch=None):
        self.ledger = ledger
        self.metric = metric
        self._cloudwatch = cloudwatch

    def report(self, load: RunManifest) -> LoadFreshness:
        measurement = self.ledger.measure(load)
        key = self.ledger.record(measurement)
        log_event(logger, "freshness measured", record=key, **measurement.to_dict())
        if self.metric is not None and measurement.lag is not None:
            self._publish(measurement)
        return measurement

    def _publish(self, measurement: LoadFreshness) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            if self._cloudwatch is None:
                import boto3

                self._cloudwatch = boto3.client("cloudwatch")
            self._cloudwatch.put_metric_data(Namespace=self.metric.namespace,
                                             MetricData=[self.metric.datum(measurement, self.ledger.load_job_name)])
        except (BotoCoreError, ClientError) as error:
            # The warehouse is committed and the record kept: failing the run now would only reload the same
            # batch. A datapoint that never arrives is what the alarm treats as breaching, so it still alarms.
            log_event(logger, "freshness metric not published", logging.ERROR, namespace=self.metric.namespace,
                      metric=self.metric.name, error=f"{type(error).__name__}: {error}")


@dataclass(frozen=True)
class FreshnessVerdict:
    state: str  # OK | ALARM
    reason: str
    latest: LoadFreshness | None  # the newest load measured, if any
    worst_lag: dt.timedelta | None  # the highest lag among the loads of the period

    @property
    def kept(self) -> bool:
        return self.state == OK


def judge(measurements: list[LoadFreshness], now: dt.datetime, promise: FreshnessPromise) -> FreshnessVerdict:
    """The alarm's rule over the last promise-long period ending ``now`` (see the module docstring)."""
    latest = max(measurements, key=lambda m: m.loaded_at) if measurements else None
    period = [m for m in measurements if now - promise.max_lag < m.loaded_at <= now and m.lag is not None]
    if not period:
        since = (f"the last at {latest.loaded_at:%Y-%m-%d %H:%M:%S} UTC" if latest is not None
                 else "none recorded yet")
        return FreshnessVerdict(ALARM, f"no load reported its lag within the last {promise.describe()} ({since}): "
                                       "the schedule stopped, or a job hangs or keeps failing", latest, None)
    worst = max(period, key=lambda m: m.lag)
    if worst.lag > promise.max_lag:
        return FreshnessVerdict(ALARM, f"load {worst.load_run_id} made changes visible up to "
                                       f"{_minutes(worst.lag)} after they were committed, over the promise of "
                                       f"{promise.describe()}", latest, worst.lag)
    return FreshnessVerdict(OK, f"every load of the last {promise.describe()} within the promise (highest lag "
                                f"{_minutes(worst.lag)})", latest, worst.lag)


def _minutes(lag: dt.timedelta) -> str:
    minutes, seconds = divmod(int(round(lag.total_seconds())), 60)
    return f"{minutes} min {seconds} s"


def lag_distribution(measurements: list[LoadFreshness]) -> dict[str, float]:
    """Median, 95th percentile (nearest rank) and maximum of the loads' lags, in seconds."""
    lags = sorted(m.lag.total_seconds() for m in measurements if m.lag is not None)
    if not lags:
        return {}
    middle = len(lags) // 2
    median = lags[middle] if len(lags) % 2 else (lags[middle - 1] + lags[middle]) / 2
    p95 = lags[max(0, -(-95 * len(lags) // 100) - 1)]
    return {"loads": len(lags), "median": median, "p95": p95, "max": lags[-1]}
