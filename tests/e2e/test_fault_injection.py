"""Fault injection: kill or fail each job at its dangerous points, rerun, and nothing is lost or loaded twice.

One pipeline, one cycle per fault point: the source changes, a workflow run fails at the point, the next
(clean) run recovers, and the warehouse must then equal what SQL over the source says it should. The test
writes a report (test-artifacts/fault-injection.json) of the points tried and how each recovered.
"""

from __future__ import annotations

import errno
import json

import pytest

from tests.e2e.conftest import VERSIONS_IN_SOURCE, check_warehouse_against_source
from totes.bookmarks import JobBookmark
from totes.ingest.run import IngestionRun, SourceReader
from totes.settings import REPO_DIR
from totes.source.database import connect as source_connect
from totes.source.simulator import simulate
from totes.transform.run import TransformRun
from totes.warehouse.loader import WarehouseLoader

pytestmark = pytest.mark.slow


class InjectedFault(Exception):
    """Stands for the crash of a job at one point."""


def _fail_reading(table_name: str):
    original = SourceReader.query

    def query(self, sql, dbtable, *args, **kwargs):
        if dbtable == table_name:
            raise InjectedFault(f"JDBC read of {table_name} failed")
        return original(self, sql, dbtable, *args, **kwargs)

    return SourceReader, "query", query


def _disk_full_writing(table_name: str):
    original = IngestionRun._ingest_table

    def ingest_table(self, table, *args):
        if table.name == table_name:
            raise OSError(errno.ENOSPC, "No space left on device (injected)")
        return original(self, table, *args)

    return IngestionRun, "_ingest_table", ingest_table


def _killed_before_bookmark(job_name: str):
    original = JobBookmark.commit

    def commit(self, run_id):
        if self.job_name == job_name:
            raise InjectedFault(f"{job_name} killed between its manifest and its bookmark")
        return original(self, run_id)

    return JobBookmark, "commit", commit


def _transform_fails_building_dimensions():
    def dimensions(self, *args):
        raise InjectedFault("transform failed after writing its facts")

    return TransformRun, "_dimensions", dimensions


def _load_fails_inside_the_transaction():
    original = WarehouseLoader._merge_fact

    def merge_fact(self, table, result):
        if table.name == "fact_payment":  # the last merge: dimensions and two facts are already merged
            raise InjectedFault("load failed inside the warehouse transaction")
        return original(self, table, result)

    return WarehouseLoader, "_merge_fact", merge_fact


FAULT_POINTS = {
    "ingest: JDBC read fails part-way (payment)": lambda: _fail_reading("payment"),
    "ingest: disk full writing parquet (transaction)": lambda: _disk_full_writing("transaction"),
    "ingest: killed between manifest and bookmark": lambda: _killed_before_bookmark("totesys-ingest"),
    "transform: fails after writing facts": _transform_fails_building_dimensions,
    "transform: killed between manifest and bookmark": lambda: _killed_before_bookmark("totesys-transform"),
    "load: fails inside the warehouse transaction": _load_fails_inside_the_transaction,
    "load: killed between warehouse commit and bookmark": lambda: _killed_before_bookmark("totesys-load"),
}


def test_every_fault_point_recovers_with_nothing_lost_or_duplicated(pipeline, monkeypatch):
    source, warehouse, run_workflow = pipeline
    versions_seen = {fact: set() for fact in VERSIONS_IN_SOURCE}
    run_workflow()
    check_warehouse_against_source(source, warehouse, versions_seen)
    report = []
    for seed, (name, fault) in enumerate(FAULT_POINTS.items(), start=10):
        with source_connect(source) as conn:
            simulate(conn, seed=seed, new_sales_orders=3, new_purchase_orders=2, payments_to_mark_paid=6)
        with monkeypatch.context() as patch:
            patch.setattr(*fault())
            with pytest.raises((InjectedFault, OSError)):
                run_workflow()
        run_workflow()  # the next scheduled run, with nothing injected
        check_warehouse_against_source(source, warehouse, versions_seen)
        report.append({"fault_point": name, "recovered": True})

    artifacts = REPO_DIR / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "fault-injection.json").write_text(json.dumps(
        {"fault_points_tried": len(report), "all_recovered": all(r["recovered"] for r in report),
         "points": report}, indent=2))
    assert len(report) == len(FAULT_POINTS)
