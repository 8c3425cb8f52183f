"""Run manifests: the commit record of each job run and the contract between jobs.

A job writes its data files first and its manifest last, at ``_manifests/<job>/<run_id>.json`` in its zone.
Readers (the next job, the crawler, the tests) take only files a committed manifest lists, so a run that
failed or was killed part-way leaves orphan files that nobody reads, never a half-visible batch.

Run ids sort by time (``YYYYMMDDTHHMMSSfffZ-<8 hex>``), so "every run after the one I last processed" is a
plain string comparison.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import asdict, dataclass, field

from totes.zones import ZoneStore

MANIFEST_VERSION = 1


def new_run_id(now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.timezone.utc)
    return now.strftime("%Y%m%dT%H%M%S") + f"{now.microsecond // 1000:03d}Z-" + secrets.token_hex(4)


def manifest_prefix(job_name: str) -> str:
    return f"_manifests/{job_name}/"


@dataclass
class TableOutput:
    """What one run wrote for one table."""

    table: str
    rows: int
    files: list[str] = field(default_factory=list)  # keys relative to the zone root
    window: dict | None = None  # e.g. {"from_exclusive": ..., "to_inclusive": ...} for ingestion reads
    details: dict = field(default_factory=dict)


@dataclass
class RunManifest:
    job_name: str
    run_id: str
    started_at: str
    finished_at: str
    bookmark_option: str
    glue_job_run_id: str | None
    tables: dict[str, TableOutput]
    inputs: list[str] = field(default_factory=list)  # run ids of upstream manifests this run consumed
    # The bookmark state this run committed (jobs whose state must survive a kill between manifest and bookmark).
    state: dict | None = None
    manifest_version: int = MANIFEST_VERSION

    def to_json(self) -> str:
        # Tables stay in the order the run wrote them (foreign-key order), which is how people read them.
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> "RunManifest":
        data = json.loads(text)
        tables = {name: TableOutput(**value) for name, value in data.pop("tables").items()}
        return cls(tables=tables, **data)


def write_manifest(store: ZoneStore, manifest: RunManifest) -> str:
    key = f"{manifest_prefix(manifest.job_name)}{manifest.run_id}.json"
    store.write_text(key, manifest.to_json())
    return key


def list_manifest_run_ids(store: ZoneStore, job_name: str, after_run_id: str | None = None) -> list[str]:
    """Run ids of a job's committed manifests in run order, optionally only those after ``after_run_id``."""
    run_ids = []
    for key in store.list_keys(manifest_prefix(job_name)):
        if not key.endswith(".json"):
            continue
        run_id = key.rsplit("/", 1)[-1][: -len(".json")]
        if after_run_id is None or run_id > after_run_id:
            run_ids.append(run_id)
    return sorted(run_ids)


def read_manifest(store: ZoneStore, job_name: str, run_id: str) -> RunManifest:
    return RunManifest.from_json(store.read_text(f"{manifest_prefix(job_name)}{run_id}.json"))


def list_manifests(store: ZoneStore, job_name: str, after_run_id: str | None = None) -> list[RunManifest]:
    """Committed manifests of a job in run order, optionally only those after ``after_run_id``."""
    return [read_manifest(store, job_name, run_id) for run_id in list_manifest_run_ids(store, job_name, after_run_id)]
