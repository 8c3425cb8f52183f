"""The ingestion job registers each committed run's tables and partitions; registering a run again adds nothing.

Checked against the local catalog and against moto's Glue (the boto3 client the job uses on AWS).
"""

import pytest

from totes.catalog import glue_columns
from totes.catalog_sync import register_committed_runs, register_ingestion_run
from totes.manifests import RunManifest, TableOutput
from totes.tables import expected_spark_schema, source_table
from totes.zones import ZoneStore

JOB = "totesys-ingest"
DATABASE = "ingestion"


@pytest.fixture
def zone(tmp_path):
    return ZoneStore.for_uri(str(tmp_path / "ingestion"))


def _run(run_id: str, day: str, **rows_by_table) -> RunManifest:
    """An ingestion run's manifest: a file per table that had rows, none for a table without."""
    tables = {name: TableOutput(name, rows, [f"{name}/ingest_date={day}/run_id={run_id}/part-0.parquet"] if rows
                                else [])
              for name, rows in rows_by_table.items()}
    return RunManifest(JOB, run_id, "t", "t", "job-bookmark-enable", None, tables)


def _partitions(client, table: str) -> list:
    partitions = client.get_partitions(DatabaseName=DATABASE, TableName=table)["Partitions"]
    return sorted((p["Values"], p["StorageDescriptor"]["Location"]) for p in partitions)


def test_each_committed_run_is_a_partition_of_its_tables_with_the_source_contracts_columns(client, zone):
    runs = [_run("R1", "2024-11-04", payment=3, staff=2), _run("R2", "2024-11-05", payment=1, staff=0)]

    register_committed_runs(client, DATABASE, zone, runs, register_ingestion_run)

    payment = client.get_table(DatabaseName=DATABASE, Name="payment")["Table"]
    assert payment["StorageDescriptor"]["Columns"] == glue_columns(expected_spark_schema(source_table("payment")))
    assert [key["Name"] for key in payment["PartitionKeys"]] == ["ingest_date", "run_id"]
    assert _partitions(client, "payment") == [
        (["2024-11-04", "R1"], zone.uri_of("payment/ingest_date=2024-11-04/run_id=R1") + "/"),
        (["2024-11-05", "R2"], zone.uri_of("payment/ingest_date=2024-11-05/run_id=R2") + "/"),
    ]
    # A run without rows for a table adds no empty partition.
    assert [values for values, _ in _partitions(client, "staff")] == [["2024-11-04", "R1"]]


def test_a_run_registered_again_by_the_next_run_adds_nothing_twice(client, zone):
    """A run killed after its manifest is registered by the next one, which may find it registered already."""
    killed, next_run = _run("R1", "2024-11-04", payment=3), _run("R2", "2024-11-04", payment=1)
    register_committed_runs(client, DATABASE, zone, [killed], register_ingestion_run)

    register_committed_runs(client, DATABASE, zone, [killed, next_run], register_ingestion_run)

    assert [values for values, _ in _partitions(client, "payment")] == [["2024-11-04", "R1"], ["2024-11-04", "R2"]]
    assert [t["Name"] for t in client.get_tables(DatabaseName=DATABASE)["TableList"]] == ["payment"]
