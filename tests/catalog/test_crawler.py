"""The local crawler registers the ingestion zone's tables and partitions like a Glue crawler, skips uncommitted
runs, and finds nothing to change in what the ingestion job registered itself."""

from pathlib import Path
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from totes.catalog import LocalGlueCatalog
from totes.catalog_sync import register_committed_runs, register_ingestion_run
from totes.local.crawler import ZoneToCrawl, crawl
from totes.manifests import RunManifest, TableOutput, write_manifest
from totes.parquet_io import arrow_schema
from totes.tables import expected_spark_schema, source_table
from totes.zones import ZoneStore

JOB = "totesys-ingest"
DATABASE = "ingestion"


@pytest.fixture
def zone(tmp_path):
    return ZoneStore.for_uri(str(tmp_path / "ingestion"))


@pytest.fixture
def catalog(tmp_path):
    return LocalGlueCatalog(tmp_path / "catalog")


def _write(zone, key, table: pa.Table):
    path = Path(urlparse(zone.uri_of(key)).path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def _commit(zone, run_id, files: dict[str, list[str]] | None = None) -> RunManifest:
    manifest = RunManifest(JOB, run_id, "t", "t", "job-bookmark-enable", None,
                           {name: TableOutput(name, 1, keys) for name, keys in (files or {}).items()})
    write_manifest(zone, manifest)
    return manifest


def _crawl(catalog, zone):
    return crawl(catalog, ZoneToCrawl(DATABASE, zone, JOB))


CURRENCIES = pa.table({"currency_id": pa.array([1, 2], pa.int32()), "currency_code": ["GBP", "USD"]})


def test_crawl_registers_tables_partitioned_by_day_and_run_and_skips_uncommitted_runs(zone, catalog):
    _write(zone, "currency/ingest_date=2024-11-04/run_id=R1/part-0.parquet", CURRENCIES)
    _commit(zone, "R1")
    _write(zone, "currency/ingest_date=2024-11-04/run_id=R9/part-0.parquet", CURRENCIES)  # a killed run's
    _write(zone, "_deletions/currency/run_id=R1/part-0.parquet", CURRENCIES)  # bookkeeping

    report = _crawl(catalog, zone)

    assert report.tables_created == ["currency"]
    assert report.partitions_added == {"currency": 1}
    assert report.skipped_uncommitted_files == 1
    table = catalog.get_table(DatabaseName=DATABASE, Name="currency")["Table"]
    assert [k["Name"] for k in table["PartitionKeys"]] == ["ingest_date", "run_id"]
    assert table["StorageDescriptor"]["Columns"] == [{"Name": "currency_id", "Type": "int"},
                                                     {"Name": "currency_code", "Type": "string"}]
    assert table["StorageDescriptor"]["Location"] == zone.uri_of("currency") + "/"


def test_a_second_crawl_reports_new_partitions_and_an_added_column(zone, catalog):
    _write(zone, "currency/ingest_date=2024-11-04/run_id=R1/part-0.parquet", CURRENCIES)
    _commit(zone, "R1")
    _crawl(catalog, zone)
    wider = CURRENCIES.append_column("currency_name", pa.array(["Pound sterling", "US dollar"]))
    _write(zone, "currency/ingest_date=2024-11-05/run_id=R2/part-0.parquet", wider)
    _commit(zone, "R2")

    report = _crawl(catalog, zone)

    assert (report.tables_created, report.schema_changes, report.partitions_added) == \
        ([], ["currency"], {"currency": 1})
    columns = catalog.get_table(DatabaseName=DATABASE, Name="currency")["Table"]["StorageDescriptor"]["Columns"]
    assert columns[-1] == {"Name": "currency_name", "Type": "string"}


def test_a_crawl_after_the_jobs_own_registration_changes_nothing(zone, catalog):
    """The job registers each run from the source contract; the crawler, reading the files, agrees with it."""
    key = "payment/ingest_date=2024-11-04/run_id=R1/part-0.parquet"
    schema = arrow_schema(expected_spark_schema(source_table("payment")))
    _write(zone, key, schema.empty_table())
    register_committed_runs(catalog, DATABASE, zone, [_commit(zone, "R1", {"payment": [key]})],
                            register_ingestion_run)

    report = _crawl(catalog, zone)

    assert (report.tables_created, report.schema_changes, report.partitions_added) == ([], [], {})
