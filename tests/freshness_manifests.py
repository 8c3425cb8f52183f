"""Manifests of the three jobs as they commit them, for the freshness tests: real RunManifests, real windows."""

from __future__ import annotations

import datetime as dt

from totes.freshness import FreshnessLedger, FreshnessReporter, LoadFreshness
from totes.ingest.window import ReadWindow
from totes.manifests import RunManifest, TableOutput, new_run_id, write_manifest
from totes.zones import ZoneStore

INGEST, TRANSFORM, LOAD = "totesys-ingest", "totesys-transform", "totesys-load"
T0 = dt.datetime(2026, 12, 4, 9, 0, 0)  # the source's clock (no time zone), 09:00 UTC


def utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.timezone.utc)


class Pipeline:
    """Writes the manifests the three jobs commit, with run ids and times of the given moments."""

    def __init__(self, tmp_path):
        self.ingestion = ZoneStore.for_uri((tmp_path / "ingestion").as_uri())
        self.processed = ZoneStore.for_uri((tmp_path / "processed").as_uri())
        self.ledger = FreshnessLedger(self.processed, self.ingestion, LOAD, TRANSFORM, INGEST)
        self._pending_ingestions: list[str] = []
        self._pending_transforms: list[str] = []

    def ingest(self, read_at: dt.datetime, bounds: dict[str, dt.datetime | None]) -> str:
        """An ingestion run that started at ``read_at`` with these per-table upper bounds (None: no window)."""
        run_id = new_run_id(utc(read_at))
        tables = {name: TableOutput(name, rows=0, window=None if bound is None else
                                    ReadWindow(bound - dt.timedelta(minutes=20), bound).to_dict())
                  for name, bound in bounds.items()}
        write_manifest(self.ingestion, RunManifest(INGEST, run_id, utc(read_at).isoformat(),
                                                   utc(read_at + dt.timedelta(seconds=20)).isoformat(),
                                                   "job-bookmark-enable", None, tables))
        self._pending_ingestions.append(run_id)
        return run_id

    def transform(self, at: dt.datetime) -> str:
        run_id = new_run_id(utc(at))
        write_manifest(self.processed, RunManifest(TRANSFORM, run_id, utc(at).isoformat(), utc(at).isoformat(),
                                                   "job-bookmark-enable", None, {},
                                                   inputs=self._pending_ingestions))
        self._pending_ingestions = []
        self._pending_transforms.append(run_id)
        return run_id

    def commit_load(self, started: dt.datetime, committed: dt.datetime) -> RunManifest:
        """A load run's manifest, of the transform runs committed since the last one; no freshness record."""
        manifest = RunManifest(LOAD, new_run_id(utc(started)), utc(started).isoformat(), utc(committed).isoformat(),
                               "job-bookmark-enable", None, {}, inputs=self._pending_transforms)
        write_manifest(self.processed, manifest)
        self._pending_transforms = []
        return manifest

    def load(self, started: dt.datetime, committed: dt.datetime) -> LoadFreshness:
        """A load run as the job does it: its manifest, then its freshness record."""
        return FreshnessReporter(self.ledger).report(self.commit_load(started, committed))

    def cycle(self, read_at: dt.datetime, committed: dt.datetime) -> LoadFreshness:
        """One workflow run: the read's bound trails its start by 5 s (the read lag)."""
        self.ingest(read_at, {"sales_order": read_at - dt.timedelta(seconds=5),
                              "payment": read_at - dt.timedelta(seconds=5)})
        self.transform(read_at + dt.timedelta(seconds=30))
        return self.load(read_at + dt.timedelta(seconds=60), committed)



def minutes(value: float) -> dt.timedelta:
    return dt.timedelta(minutes=value)
