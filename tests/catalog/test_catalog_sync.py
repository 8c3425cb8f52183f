"""A dimension swapped to its new snapshot on every run leaves no archived table versions in the catalog.

Checked against the local catalog and against moto's Glue running as a server (the boto3 client the jobs use
on AWS, over HTTP). moto (5.1 installed, and its main branch as of 2026-08) ignores ``SkipArchive`` and
archives a version on every ``UpdateTable``, so against moto the tests check what can be checked honestly:
what the request on the wire carries, and that moto's archiving without it matches the local catalog's.
"""

import json
import urllib.request

import boto3
import pytest

from totes.catalog import LocalGlueCatalog, ensure_table, glue_columns, table_input
from totes.catalog_sync import register_committed_runs, register_transform_run
from totes.manifests import RunManifest, TableOutput
from totes.star import star_table
from totes.zones import ZoneStore

JOB = "totesys-transform"
DATABASE = "processed"
RUNS = ["R1", "R2", "R3", "R4"]


@pytest.fixture
def glue(moto_endpoint):
    """A boto3 Glue client on the moto server (reset first), recording the body of every UpdateTable it sends."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"))
    client = boto3.client("glue", region_name="eu-west-2", endpoint_url=moto_endpoint,
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    client.sent_update_tables = []
    client.meta.events.register("before-send.glue.UpdateTable",
                                lambda request, **_: client.sent_update_tables.append(json.loads(request.body)))
    return client


@pytest.fixture
def zone(tmp_path):
    return ZoneStore.for_uri(str(tmp_path / "processed"))


def _dimension_runs(zone, client, run_ids) -> None:
    """What the transformation job registers after each run that wrote a new dim_staff snapshot."""
    manifests = [RunManifest(JOB, run_id, "t", "t", "job-bookmark-enable", None,
                             {"dim_staff": TableOutput("dim_staff", 1, [f"dim_staff/run_id={run_id}/part-0.parquet"])})
                 for run_id in run_ids]
    register_committed_runs(client, DATABASE, zone, manifests, register_transform_run)


def _version_ids(client, table: str) -> list[str]:
    return [v["VersionId"] for v in client.get_table_versions(DatabaseName=DATABASE, TableName=table)["TableVersions"]]


def test_repeated_dimension_swaps_leave_no_archived_versions_in_the_local_catalog(zone, tmp_path):
    catalog = LocalGlueCatalog(tmp_path / "catalog")

    _dimension_runs(zone, catalog, RUNS)

    assert len(_version_ids(catalog, "dim_staff")) == 1
    table = catalog.get_table(DatabaseName=DATABASE, Name="dim_staff")["Table"]
    assert table["StorageDescriptor"]["Location"] == zone.uri_of("dim_staff/run_id=R4") + "/"


def test_every_dimension_swap_sent_to_glue_asks_to_skip_the_archive(zone, glue):
    _dimension_runs(zone, glue, RUNS)

    assert [body["SkipArchive"] for body in glue.sent_update_tables] == [True, True, True]
    table = glue.get_table(DatabaseName=DATABASE, Name="dim_staff")["Table"]
    assert table["StorageDescriptor"]["Location"] == zone.uri_of("dim_staff/run_id=R4") + "/"


def test_without_skip_archive_the_local_catalog_keeps_every_version_as_glue_does(tmp_path, glue):
    catalog = LocalGlueCatalog(tmp_path / "catalog")
    for client in (catalog, glue):
        client.create_database(DatabaseInput={"Name": DATABASE})
        client.create_table(DatabaseName=DATABASE, TableInput=table_input("dim_staff", [], "s3://zone/R1"))
        for run_id in RUNS[1:]:
            client.update_table(DatabaseName=DATABASE, TableInput=table_input("dim_staff", [], f"s3://zone/{run_id}"))

    assert _version_ids(catalog, "dim_staff") == _version_ids(glue, "dim_staff") == ["1", "2", "3", "4"]
    archived = catalog.get_table_versions(DatabaseName=DATABASE, TableName="dim_staff")["TableVersions"][0]
    assert archived["Table"]["StorageDescriptor"]["Location"] == "s3://zone/R1/"


def test_a_schema_change_is_kept_as_a_version(zone, tmp_path, glue):
    catalog = LocalGlueCatalog(tmp_path / "catalog")
    columns = glue_columns(star_table("dim_staff").spark_schema)
    for client in (catalog, glue):
        _dimension_runs(zone, client, ["R1"])
        wider = table_input("dim_staff", columns + [{"Name": "nickname", "Type": "string"}],
                            zone.uri_of("dim_staff/run_id=R2"))
        assert ensure_table(client, DATABASE, wider) == "updated"

    assert [body["SkipArchive"] for body in glue.sent_update_tables] == [False]
    assert len(_version_ids(catalog, "dim_staff")) == 2
