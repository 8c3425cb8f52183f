"""The local crawler registers tables and partitions like a Glue crawler, and skips uncommitted runs."""

from pathlib import Path
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from totes.catalog import LocalGlueCatalog
from totes.local.crawler import ZoneToCrawl, crawl
from totes.manifests import RunManifest, write_manifest
from totes.zones import ZoneStore

JOB = "totesys-transform"


@pytest.fixture
def zone(tmp_path):
    return ZoneStore.for_uri(str(tmp_path / "processed"))


def _write(zone, key, table: pa.Table):
    path = Path(urlparse(zone.uri_of(key)).path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def _commit(zone, run_id):
    write_manifest(zone, RunManifest(JOB, run_id, "t", "t", "job-bookmark-enable", None, {}))


PAYMENTS = pa.table({"payment_id": pa.array([1, 2], pa.int32()),
                     "payment_amount": pa.array([1, 2], pa.decimal128(10, 2))})
STAFF = pa.table({"staff_id": pa.array([1], pa.int32()), "first_name": ["Jeremie"]})


def test_crawl_registers_partitioned_facts_snapshot_dimensions_and_skips_uncommitted_runs(zone, tmp_path):
    _write(zone, "fact_payment/run_id=R1/created_year=2024/created_month=11/part-0.parquet", PAYMENTS)
    _write(zone, "dim_staff/run_id=R1/part-0.parquet", STAFF)
    _commit(zone, "R1")
    _write(zone, "fact_payment/run_id=R9/created_year=2024/created_month=11/part-0.parquet", PAYMENTS)  # killed
    catalog = LocalGlueCatalog(tmp_path / "catalog")

    report = crawl(catalog, ZoneToCrawl("processed", zone, (JOB,)))

    assert sorted(report.tables_created) == ["dim_staff", "fact_payment"]
    assert report.partitions_added == {"fact_payment": 1}
    assert report.skipped_uncommitted_files == 1
    fact = catalog.get_table(DatabaseName="processed", Name="fact_payment")["Table"]
    assert [k["Name"] for k in fact["PartitionKeys"]] == ["run_id", "created_year", "created_month"]
    assert fact["StorageDescriptor"]["Columns"] == [{"Name": "payment_id", "Type": "int"},
                                                    {"Name": "payment_amount", "Type": "decimal(10,2)"}]
    staff = catalog.get_table(DatabaseName="processed", Name="dim_staff")["Table"]
    assert staff["PartitionKeys"] == []
    assert staff["StorageDescriptor"]["Location"].endswith("/dim_staff/run_id=R1/")


def test_a_second_crawl_reports_new_partitions_and_an_added_column(zone, tmp_path):
    _write(zone, "fact_payment/run_id=R1/created_year=2024/created_month=11/part-0.parquet", PAYMENTS)
    _commit(zone, "R1")
    catalog = LocalGlueCatalog(tmp_path / "catalog")
    crawl(catalog, ZoneToCrawl("processed", zone, (JOB,)))
    wider = PAYMENTS.append_column("paid", pa.array([True, False]))
    _write(zone, "fact_payment/run_id=R2/created_year=2024/created_month=12/part-0.parquet", wider)
    _commit(zone, "R2")

    report = crawl(catalog, ZoneToCrawl("processed", zone, (JOB,)))

    assert report.tables_created == []
    assert report.schema_changes == ["fact_payment"]
    assert report.partitions_added == {"fact_payment": 1}
    columns = catalog.get_table(DatabaseName="processed", Name="fact_payment")["Table"]["StorageDescriptor"]["Columns"]
    assert columns[-1] == {"Name": "paid", "Type": "boolean"}


def test_a_crawl_with_nothing_new_changes_nothing(zone, tmp_path):
    _write(zone, "fact_payment/run_id=R1/created_year=2024/created_month=11/part-0.parquet", PAYMENTS)
    _commit(zone, "R1")
    catalog = LocalGlueCatalog(tmp_path / "catalog")
    crawl(catalog, ZoneToCrawl("processed", zone, (JOB,)))

    again = crawl(catalog, ZoneToCrawl("processed", zone, (JOB,)))

    assert (again.tables_created, again.schema_changes, again.partitions_added) == ([], [], {})
