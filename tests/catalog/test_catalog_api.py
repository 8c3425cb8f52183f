"""The local catalog answers the Glue calls the jobs make exactly as Glue does (checked against moto's Glue)."""

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from totes.catalog import LocalGlueCatalog, add_partitions, ensure_database, ensure_table, table_input

COLUMNS = [{"Name": "payment_id", "Type": "int"}, {"Name": "payment_amount", "Type": "decimal(10,2)"}]
KEYS = [{"Name": "ingest_date", "Type": "string"}, {"Name": "run_id", "Type": "string"}]


def _replay(client) -> dict:
    """The calls an ingestion run makes, and what comes back."""
    ensure_database(client, "ingestion", location="s3://zone")
    table = table_input("payment", COLUMNS, "s3://zone/payment", KEYS)
    outcomes = [ensure_table(client, "ingestion", table), ensure_table(client, "ingestion", table)]
    added = add_partitions(client, "ingestion", table,
                           [(["2024-11-04", "r1"], "s3://zone/payment/ingest_date=2024-11-04/run_id=r1"),
                            (["2024-11-05", "r2"], "s3://zone/payment/ingest_date=2024-11-05/run_id=r2")])
    added_again = add_partitions(client, "ingestion", table, [(["2024-11-04", "r1"], "s3://zone/x")])
    wider = table_input("payment", COLUMNS + [{"Name": "paid", "Type": "boolean"}], "s3://zone/payment", KEYS)
    outcomes.append(ensure_table(client, "ingestion", wider))
    stored = client.get_table(DatabaseName="ingestion", Name="payment")["Table"]
    partitions = client.get_partitions(DatabaseName="ingestion", TableName="payment")["Partitions"]
    return {
        "outcomes": outcomes,
        "added": (added, added_again),
        "columns": stored["StorageDescriptor"]["Columns"],
        "keys": stored["PartitionKeys"],
        "partitions": sorted((p["Values"], p["StorageDescriptor"]["Location"]) for p in partitions),
    }


def test_the_jobs_calls_give_the_same_answers_locally_and_on_glue(tmp_path):
    local = _replay(LocalGlueCatalog(tmp_path / "catalog"))
    with mock_aws():
        glue = _replay(boto3.client("glue", region_name="eu-west-2"))
    assert local == glue
    assert local["outcomes"] == ["created", "unchanged", "updated"]
    assert local["added"] == (2, 0)


def test_a_missing_table_raises_glues_entity_not_found(client):
    ensure_database(client, "ingestion")
    with pytest.raises(ClientError) as raised:
        client.get_table(DatabaseName="ingestion", Name="nothing")
    assert raised.value.response["Error"]["Code"] == "EntityNotFoundException"
