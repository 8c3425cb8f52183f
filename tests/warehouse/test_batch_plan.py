"""Planning a load batch: which files of the committed transform runs a load reads (no Spark, no database)."""

from __future__ import annotations

from totes.manifests import RunManifest, TableOutput
from totes.warehouse.batch import plan_batch

R1, R2, R3 = "20261125T100000000Z-00000001", "20261125T101500000Z-00000002", "20261125T103000000Z-00000003"


def _manifest(run_id: str, **dim_transaction: object) -> RunManifest:
    output = TableOutput("dim_transaction", rows=100, files=[f"dim_transaction/run_id={run_id}/part-0.parquet"],
                         details={"status": "written", "snapshot_run_id": run_id, **dim_transaction})
    return RunManifest(job_name="totesys-transform", run_id=run_id, started_at="", finished_at="",
                       bookmark_option="job-bookmark-enable", glue_job_run_id=None,
                       tables={"dim_transaction": output})


def _changes(run_id: str) -> list[str]:
    return [f"_changes/dim_transaction/run_id={run_id}/part-0.parquet"]


def test_after_the_first_load_a_dimension_loads_only_the_rows_each_run_touched():
    batch = plan_batch([_manifest(R2, changes_files=_changes(R2)), _manifest(R3, changes_files=_changes(R3))],
                       loaded_through=R1)

    (planned,) = batch.tables
    assert planned.changes_only and planned.files == tuple(_changes(R2) + _changes(R3))
    assert planned.run_ids == (R2, R3)


def test_without_a_bookmark_the_whole_newest_snapshot_is_loaded():
    (planned,) = plan_batch([_manifest(R2, changes_files=_changes(R2))], loaded_through=None).tables

    assert not planned.changes_only and planned.files == (f"dim_transaction/run_id={R2}/part-0.parquet",)


def test_one_snapshot_without_its_changes_means_the_whole_newest_snapshot():
    # R2 wrote a first snapshot (no earlier one to differ from), R3 only its changes: R3's snapshot is complete.
    (planned,) = plan_batch([_manifest(R2), _manifest(R3, changes_files=_changes(R3))], loaded_through=R1).tables

    assert not planned.changes_only and planned.files == (f"dim_transaction/run_id={R3}/part-0.parquet",)


def test_a_snapshot_already_loaded_is_skipped():
    unchanged = _manifest(R2, status="unchanged", snapshot_run_id=R1)

    batch = plan_batch([unchanged], loaded_through=R1)

    assert batch.tables == () and batch.already_loaded == {"dim_transaction": R1}
