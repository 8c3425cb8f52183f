"""Planning a load batch: which table changes of the committed transform runs a load reads (no Spark, no database)."""

from __future__ import annotations

from totes.manifests import RunManifest, TableOutput
from totes.warehouse.batch import plan_batch

R1, R2, R3 = "20261125T100000000Z-00000001", "20261125T101500000Z-00000002", "20261125T103000000Z-00000003"


def _manifest(run_id: str, snapshot_id: int | None, corrects_versions: bool = False) -> RunManifest:
    tables = {name: TableOutput(name, rows=1, details={"snapshot_id": snapshot_id,
                                                       "corrects_versions": corrects_versions})
              for name in ("dim_transaction", "fact_payment")}
    return RunManifest(job_name="totesys-transform", run_id=run_id, started_at="", finished_at="",
                       bookmark_option="job-bookmark-enable", glue_job_run_id=None, tables=tables)


def test_a_batch_reads_from_the_loaded_snapshots_to_the_newest_manifests_snapshots():
    batch = plan_batch([_manifest(R2, 20), _manifest(R3, 30)], loaded={"dim_transaction": 10, "fact_payment": 10})

    assert [(t.table.name, t.loaded_snapshot, t.target_snapshot) for t in batch.tables] == [
        ("dim_transaction", 10, 30), ("fact_payment", 10, 30)]
    assert batch.targets == {"dim_transaction": 30, "fact_payment": 30}
    assert batch.run_ids == [R2, R3]


def test_without_a_bookmark_every_table_is_read_whole():
    batch = plan_batch([_manifest(R2, 20)], loaded={})

    assert {t.loaded_snapshot for t in batch.tables} == {None}


def test_a_snapshot_already_loaded_is_skipped_and_a_table_never_written_is_left_out():
    batch = plan_batch([_manifest(R2, 20)], loaded={"dim_transaction": 20, "fact_payment": 20})
    assert batch.tables == () and batch.already_loaded == {"dim_transaction": 20, "fact_payment": 20}

    assert plan_batch([_manifest(R2, None)]).tables == ()


def test_a_reconciliation_anywhere_in_the_batch_marks_its_facts_as_corrections():
    batch = plan_batch([_manifest(R2, 20, corrects_versions=True), _manifest(R3, 30)], loaded={})

    assert {t.table.name: t.corrects_versions for t in batch.tables} == {"dim_transaction": True,
                                                                         "fact_payment": True}
