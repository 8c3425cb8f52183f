"""Fault injection: kill or fail each job at its dangerous points, rerun, and nothing is lost or loaded twice.

One pipeline, one cycle per fault point: the source changes, a workflow run fails at the point, the next
(clean) run recovers, and the warehouse must then equal what SQL over the source says it should. The test
writes a report (test-artifacts/fault-injection.json) of the points tried, what really happened at each and
how each recovered.

Most points are a crash raised at a chosen line (``InjectedFault``). Four are real faults
(tests/e2e/real_faults.py): the source server restarted while the ingestion's JDBC read of a table runs, the
warehouse server restarted while the load's transaction runs its last merge, and the ingestion zone on a small
tmpfs that is really full, once for Spark's parquet write and once for the manifest write.

Disk full, what was tried (as root, on a Debian 12 VM, 2 cores): ``mount -t tmpfs -o size=2m`` works, and a
ballast file filling it makes the next write fail with ``OSError: [Errno 28] No space left on device``. So the
ingestion zone of this test lives on a 32 MiB tmpfs (it holds about 1 MiB), filled for one run and freed for
the next. Where mounting is refused (not root, or a container without CAP_SYS_ADMIN) the two disk-full points
fall back to raising that OSError at the same place, and the report says "simulated". The other ways were not
needed and are weaker: a loop-mounted image needs root as well; RLIMIT_FSIZE gives EFBIG or SIGXFSZ, not
ENOSPC, and only to a process started after it is set (the Spark JVM is already running).
"""

from __future__ import annotations

import errno
import json
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

import totes.ingest.run
from tests.e2e.conftest import VERSIONS_IN_SOURCE, check_warehouse_against_source, rows_of
from tests.e2e.real_faults import (SERVER_RESTARTED, TERMINATED_BY_SHUTDOWN, MountRefused, RestartUnderStatement,
                                   SmallDisk)
from totes.bookmarks import JobBookmark
from totes.ingest.errors import SourceUnavailableError, ZoneWriteError, java_root_cause
from totes.ingest.run import IngestionRun, SourceReader
from totes.secrets import DatabaseCredentials
from totes.settings import INGEST_JOB_NAME, REPO_DIR
from totes.source.database import connect as source_connect
from totes.source.simulator import simulate
from totes.transform.dimension_writer import DimensionWriter
from totes.warehouse.database import connect as warehouse_connect
from totes.warehouse.errors import WarehouseUnavailableError
from totes.warehouse.loader import WarehouseLoader

pytestmark = pytest.mark.slow

NO_SPACE = "No space left on device"


class InjectedFault(Exception):
    """Stands for the crash of a job at one point."""


@dataclass
class Rig:
    """What the real faults act on."""

    source: DatabaseCredentials  # the source database's owner
    warehouse: DatabaseCredentials
    ingestion_zone: Path
    ingestion_disk: SmallDisk | None  # None where this machine refuses a mount: see disk_refused
    disk_refused: str | None = None


@dataclass
class Fault:
    """One fault point: the patch that makes it happen, and the check that it really did."""

    target: object
    attribute: str
    replacement: Callable
    # Asserts the fault happened and the run's error comes from it; returns what happened, for the report.
    happened: Callable[[BaseException], str]
    cleanup: Callable[[], None] = lambda: None


def _error_text(error: BaseException) -> str:
    """The error with its Java stack (a Py4J error's str has it) and its root cause."""
    return f"{error}\n{java_root_cause(error)}"


def _injected(error: BaseException) -> str:
    assert isinstance(error, InjectedFault), f"the run failed, but not at the injected point: {error!r}"
    return f"injected: {error}"


def _fail_reading(table_name: str):
    original = SourceReader.query

    def query(self, sql, dbtable, *args, **kwargs):
        if dbtable == table_name:
            raise InjectedFault(f"JDBC read of {table_name} failed")
        return original(self, sql, dbtable, *args, **kwargs)

    return Fault(SourceReader, "query", query, _injected)


def _source_restarted_while_reading(table_name: str, rig: Rig):
    restart = RestartUnderStatement(rig.source, table_name)
    original = SourceReader.query

    def query(self, sql, dbtable, *args, **kwargs):
        frame = original(self, sql, dbtable, *args, **kwargs)
        if dbtable == table_name:
            # The frame is lazy: its rows are read by the zone write that follows, and that read waits on the
            # lock until the restart cuts its connection.
            restart.arm(waiter_user=self.credentials.username)
        return frame

    def happened(error):
        assert restart.restarted, f"no ingestion read of {table_name} ran: the source was not restarted"
        assert isinstance(error, SourceUnavailableError) and any(m in str(error) for m in SERVER_RESTARTED), \
            f"the ingestion did not fail on its terminated connection: {error!r}"
        assert "while reading " in str(error)  # the restarted read, or one beside it that met the restart first
        return restart.describe()

    return Fault(SourceReader, "query", query, happened, restart.finish)


def _fill_ingestion_disk(rig: Rig) -> str:
    if rig.ingestion_disk is None:
        raise OSError(errno.ENOSPC, f"{NO_SPACE} (simulated: {rig.disk_refused})")
    taken = rig.ingestion_disk.fill()
    return f"ingestion zone on a {rig.ingestion_disk.size_mib} MiB tmpfs, filled by a {taken} byte ballast"


def _free_ingestion_disk(rig: Rig) -> None:
    if rig.ingestion_disk is not None:
        rig.ingestion_disk.free()


def _disk_full_writing(table_name: str, rig: Rig):
    original = IngestionRun._ingest_table
    filled = []

    def ingest_table(self, table, *args):
        if table.name == table_name:
            filled.append(_fill_ingestion_disk(rig))
        return original(self, table, *args)

    def happened(error):
        assert NO_SPACE in _error_text(error), f"the ingestion did not fail for want of space: {error!r}"
        if rig.ingestion_disk is None:
            return f"simulated ({rig.disk_refused})"
        # Tables are written side by side: whichever write meets the full disk first names itself.
        assert isinstance(error, ZoneWriteError) and re.match(r"cannot write \w+ to \S+/ingestion/", str(error)), error
        assert filled, f"the ingestion of {table_name} never started: the disk was not filled"
        return f"{filled[0]} before {table_name} was read and written"

    return Fault(IngestionRun, "_ingest_table", ingest_table, happened, lambda: _free_ingestion_disk(rig))


def _disk_full_writing_the_manifest(rig: Rig):
    original = totes.ingest.run.write_manifest
    manifests = rig.ingestion_zone / "_manifests" / INGEST_JOB_NAME
    manifests_before = sorted(path.name for path in manifests.iterdir())
    filled = []

    def write_manifest(store, manifest):
        filled.append(_fill_ingestion_disk(rig))
        return original(store, manifest)

    def happened(error):
        assert isinstance(error, OSError) and error.errno == errno.ENOSPC, \
            f"the manifest write did not fail for want of space: {error!r}"
        assert f"cannot write _manifests/{INGEST_JOB_NAME}/" in str(error) or rig.ingestion_disk is None, error
        if rig.ingestion_disk is None:
            return f"simulated ({rig.disk_refused})"
        # No manifest, and no half-written temporary file beside the committed ones.
        assert sorted(path.name for path in manifests.iterdir()) == manifests_before
        return f"{filled[0]} after the parquet files, before the manifest"

    return Fault(totes.ingest.run, "write_manifest", write_manifest, happened,
                 lambda: _free_ingestion_disk(rig))


def _killed_before_bookmark(job_name: str):
    original = JobBookmark.commit

    def commit(self, run_id):
        if self.job_name == job_name:
            raise InjectedFault(f"{job_name} killed between its manifest and its bookmark")
        return original(self, run_id)

    return Fault(JobBookmark, "commit", commit, _injected)


def _transform_fails_building_dimensions():
    def dimensions(self, *args):
        raise InjectedFault("transform failed after writing its facts")

    return Fault(DimensionWriter, "write_changed", dimensions, _injected)


def _load_fails_inside_the_transaction():
    original = WarehouseLoader._merge_fact

    def merge_fact(self, table, result):
        if table.name == "fact_payment":  # the last merge: dimensions and two facts are already merged
            raise InjectedFault("load failed inside the warehouse transaction")
        return original(self, table, result)

    return Fault(WarehouseLoader, "_merge_fact", merge_fact, _injected)


FACT_COUNTS = "SELECT (SELECT count(*) FROM fact_sales_order), (SELECT count(*) FROM fact_purchase_order), " \
              "(SELECT count(*) FROM fact_payment)"


def _warehouse_restarted_inside_the_transaction(rig: Rig):
    restart = RestartUnderStatement(rig.warehouse, "fact_payment", lock_mode="SHARE")
    original = WarehouseLoader._merge_fact
    facts_before = rows_of(rig.warehouse, FACT_COUNTS, warehouse_connect)

    def merge_fact(self, table, result):
        if table.name == "fact_payment":  # the last merge: dimensions and two facts are already merged
            restart.arm(waiter_pid=self.conn.info.backend_pid)
        return original(self, table, result)

    def happened(error):
        assert restart.restarted, "the load never merged fact_payment: the warehouse server was not restarted"
        assert isinstance(error, WarehouseUnavailableError) and TERMINATED_BY_SHUTDOWN in str(error), \
            f"the load did not fail on its terminated connection: {error!r}"
        assert str(error).startswith(f"lost the warehouse {rig.warehouse.describe()} during the load")
        # The merges done before the restart went with the transaction.
        assert rows_of(rig.warehouse, FACT_COUNTS, warehouse_connect) == facts_before
        return restart.describe() + "; the merges before it were rolled back"

    return Fault(WarehouseLoader, "_merge_fact", merge_fact, happened, restart.finish)


FAULT_POINTS = {
    "ingest: JDBC read fails part-way (payment)": lambda rig: _fail_reading("payment"),
    "ingest: source server restarted during the JDBC read (payment)":
        lambda rig: _source_restarted_while_reading("payment", rig),
    "ingest: ingestion zone disk full writing parquet (transaction)":
        lambda rig: _disk_full_writing("transaction", rig),
    "ingest: ingestion zone disk full writing the manifest": _disk_full_writing_the_manifest,
    "ingest: killed between manifest and bookmark": lambda rig: _killed_before_bookmark("totesys-ingest"),
    "transform: fails after writing facts": lambda rig: _transform_fails_building_dimensions(),
    "transform: killed between manifest and bookmark":
        lambda rig: _killed_before_bookmark("totesys-transform"),
    "load: fails inside the warehouse transaction": lambda rig: _load_fails_inside_the_transaction(),
    "load: warehouse server restarted inside the transaction (fact_payment merge)":
        _warehouse_restarted_inside_the_transaction,
    "load: killed between warehouse commit and bookmark": lambda rig: _killed_before_bookmark("totesys-load"),
}


@pytest.fixture
def rig(pipeline):
    """The pipeline's ingestion zone on a small tmpfs of its own, unmounted at the end whatever happened."""
    source, warehouse, run_workflow = pipeline
    zone = run_workflow.written / "ingestion"  # where the pipeline fixture puts the ingestion zone
    try:
        disk, refused = SmallDisk(zone, size_mib=32), None
    except MountRefused as error:
        disk, refused = None, str(error)
        warnings.warn(f"disk-full fault points simulated: {refused}", stacklevel=1)
    try:
        yield Rig(source, warehouse, zone, disk, refused)
    finally:
        if disk is not None:
            disk.unmount()


def test_every_fault_point_recovers_with_nothing_lost_or_duplicated(pipeline, rig, monkeypatch):
    source, warehouse, run_workflow = pipeline
    versions_seen = {fact: set() for fact in VERSIONS_IN_SOURCE}
    run_workflow()
    check_warehouse_against_source(source, warehouse, versions_seen)
    if rig.ingestion_disk is not None:
        assert rig.ingestion_disk.holds(rig.ingestion_zone / "_manifests"), "the zone is not on the tmpfs"
    report = []
    for seed, (name, make_fault) in enumerate(FAULT_POINTS.items(), start=10):
        with source_connect(source) as conn:
            simulate(conn, seed=seed, new_sales_orders=3, new_purchase_orders=2, payments_to_mark_paid=6)
        fault = make_fault(rig)
        with monkeypatch.context() as patch:
            patch.setattr(fault.target, fault.attribute, fault.replacement)
            try:
                with pytest.raises(Exception) as raised:
                    run_workflow()
            finally:
                fault.cleanup()
        what_happened = fault.happened(raised.value)
        run_workflow()  # the next scheduled run, with nothing injected
        check_warehouse_against_source(source, warehouse, versions_seen)
        report.append({"fault_point": name, "fault": what_happened,
                       "error": f"{type(raised.value).__name__}: {java_root_cause(raised.value)}",
                       "recovered": True})

    artifacts = REPO_DIR / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "fault-injection.json").write_text(json.dumps(
        {"fault_points_tried": len(report), "all_recovered": all(r["recovered"] for r in report),
         "points": report}, indent=2))
    assert len(report) == len(FAULT_POINTS)
