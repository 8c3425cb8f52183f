"""The Data Catalog of the ingestion zone: Glue's API on AWS, and a local catalog that answers the same calls the
same way.

The ingestion job registers what it commits (tables and partitions) through the subset of the Glue API below; on
AWS that is ``boto3.client("glue")``, locally :class:`LocalGlueCatalog`, which keeps Glue's structures (database,
table with columns, partition keys and location, partitions with values and location) as JSON files and raises
the same ``botocore`` errors. Code that works against one works against the other. (The processed zone's Iceberg
tables are registered by their Iceberg catalog instead: totes/iceberg.py.)
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from botocore.exceptions import ClientError
from pyspark.sql import types as T

from totes.logs import log_event
from totes.zones import LocalZoneStore

logger = logging.getLogger("totes.catalog")

LOCAL_CATALOG_DIR_ENV = "TOTES_LOCAL_CATALOG_DIR"


def glue_type(spark_type: T.DataType) -> str:
    """The Hive type name Glue and Athena use for a Spark type."""
    if isinstance(spark_type, T.DecimalType):
        return f"decimal({spark_type.precision},{spark_type.scale})"
    return {
        T.IntegerType(): "int", T.ShortType(): "smallint", T.LongType(): "bigint", T.StringType(): "string",
        T.BooleanType(): "boolean", T.DateType(): "date", T.TimestampType(): "timestamp",
    }[spark_type]


def glue_columns(schema: T.StructType) -> list[dict]:
    return [{"Name": field.name, "Type": glue_type(field.dataType)} for field in schema.fields]


def _error(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


class LocalGlueCatalog:
    """The Glue catalog calls the jobs and the local tools use, on JSON files under ``directory``."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        # Atomic writes (temp file + rename): a reader never sees half a catalog entry.
        self._files = LocalZoneStore(self.directory.resolve().as_uri())

    def _table_key(self, database: str, table: str) -> str:
        return f"{database}/{table}.json"

    def _load(self, database: str, table: str, operation: str) -> dict:
        key = self._table_key(database, table)
        if not self._files.exists(key):
            raise _error("EntityNotFoundException", f"Table {table} not found in {database}.", operation)
        return json.loads(self._files.read_text(key))

    def _save(self, database: str, entry: dict) -> None:
        self._files.write_text(self._table_key(database, entry["Table"]["Name"]), json.dumps(entry, indent=2))

    def _require_database(self, database: str, operation: str) -> None:
        if not self._files.exists(f"{database}/_database.json"):
            raise _error("EntityNotFoundException", f"Database {database} not found.", operation)

    # -- databases -------------------------------------------------------------------------------------------
    def create_database(self, DatabaseInput: dict) -> dict:  # noqa: N803 - boto3's parameter names
        key = f"{DatabaseInput['Name']}/_database.json"
        if self._files.exists(key):
            raise _error("AlreadyExistsException", f"Database {DatabaseInput['Name']} already exists.",
                         "CreateDatabase")
        self._files.write_text(key, json.dumps(DatabaseInput, indent=2))
        return {}

    def get_database(self, Name: str) -> dict:  # noqa: N803
        self._require_database(Name, "GetDatabase")
        return {"Database": json.loads(self._files.read_text(f"{Name}/_database.json"))}

    # -- tables ----------------------------------------------------------------------------------------------
    def get_table(self, DatabaseName: str, Name: str) -> dict:  # noqa: N803
        self._require_database(DatabaseName, "GetTable")
        return {"Table": self._load(DatabaseName, Name, "GetTable")["Table"]}

    def get_tables(self, DatabaseName: str) -> dict:  # noqa: N803
        self._require_database(DatabaseName, "GetTables")
        keys = [k for k in self._files.list_keys(f"{DatabaseName}/") if not k.endswith("_database.json")]
        return {"TableList": [json.loads(self._files.read_text(key))["Table"] for key in keys]}

    def create_table(self, DatabaseName: str, TableInput: dict) -> dict:  # noqa: N803
        self._require_database(DatabaseName, "CreateTable")
        if self._files.exists(self._table_key(DatabaseName, TableInput["Name"])):
            raise _error("AlreadyExistsException", f"Table {TableInput['Name']} already exists.", "CreateTable")
        self._save(DatabaseName, {"Table": {**TableInput, "DatabaseName": DatabaseName}, "Partitions": []})
        return {}

    def update_table(self, DatabaseName: str, TableInput: dict) -> dict:  # noqa: N803
        entry = self._load(DatabaseName, TableInput["Name"], "UpdateTable")
        entry["Table"] = {**TableInput, "DatabaseName": DatabaseName}
        self._save(DatabaseName, entry)
        return {}

    # -- partitions ------------------------------------------------------------------------------------------
    def batch_create_partition(self, DatabaseName: str, TableName: str,  # noqa: N803
                               PartitionInputList: list[dict]) -> dict:
        entry = self._load(DatabaseName, TableName, "BatchCreatePartition")
        existing = {tuple(p["Values"]) for p in entry["Partitions"]}
        errors = []
        for partition in PartitionInputList:
            values = tuple(partition["Values"])
            if values in existing:
                errors.append({"PartitionValues": list(values),
                               "ErrorDetail": {"ErrorCode": "AlreadyExistsException",
                                               "ErrorMessage": "Partition already exists."}})
                continue
            entry["Partitions"].append({**partition, "DatabaseName": DatabaseName, "TableName": TableName})
            existing.add(values)
        self._save(DatabaseName, entry)
        return {"Errors": errors}

    def get_partitions(self, DatabaseName: str, TableName: str, **_ignored) -> dict:  # noqa: N803
        return {"Partitions": self._load(DatabaseName, TableName, "GetPartitions")["Partitions"]}


def catalog_client(config=None):
    """The local catalog when ``TOTES_LOCAL_CATALOG_DIR`` is set (the local runner sets it), else Glue's (with
    ``config``, a botocore ``Config``, if given)."""
    local_dir = os.environ.get(LOCAL_CATALOG_DIR_ENV)
    if local_dir:
        return LocalGlueCatalog(local_dir)
    import boto3

    return boto3.client("glue", config=config)


def ensure_database(client, name: str, description: str = "", location: str | None = None) -> None:
    try:
        client.get_database(Name=name)
    except ClientError as error:
        if error.response["Error"]["Code"] != "EntityNotFoundException":
            raise
        database = {"Name": name, "Description": description}
        if location:
            database["LocationUri"] = location
        client.create_database(DatabaseInput=database)


def table_input(name: str, columns: list[dict], location: str, partition_keys: list[dict] | None = None) -> dict:
    """A Glue TableInput for parquet files, as a crawler would create it."""
    return {
        "Name": name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE"},
        "PartitionKeys": partition_keys or [],
        "StorageDescriptor": {
            "Columns": columns,
            "Location": location.rstrip("/") + "/",
            "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
        },
    }


def ensure_table(client, database: str, wanted: dict) -> str:
    """Create the table, or update it when its columns, partition keys or location changed.

    Returns "created", "updated" (with the change logged: a schema change is worth a line; Glue keeps the
    previous version in the table's history) or "unchanged".
    """
    try:
        current = client.get_table(DatabaseName=database, Name=wanted["Name"])["Table"]
    except ClientError as error:
        if error.response["Error"]["Code"] != "EntityNotFoundException":
            raise
        client.create_table(DatabaseName=database, TableInput=wanted)
        return "created"
    current_shape = (current["StorageDescriptor"]["Columns"], current.get("PartitionKeys", []),
                     current["StorageDescriptor"]["Location"])
    wanted_shape = (wanted["StorageDescriptor"]["Columns"], wanted["PartitionKeys"],
                    wanted["StorageDescriptor"]["Location"])
    if current_shape == wanted_shape:
        return "unchanged"
    log_event(logger, "catalog table schema changed", logging.WARNING, database=database, table=wanted["Name"],
              before=[c["Name"] for c in current_shape[0]], after=[c["Name"] for c in wanted_shape[0]])
    client.update_table(DatabaseName=database, TableInput=wanted)
    return "updated"


def add_partitions(client, database: str, table: dict, partitions: list[tuple[list[str], str]]) -> int:
    """Register (values, location) partitions; ones already registered are fine. Returns how many were new."""
    added = 0
    for start in range(0, len(partitions), 100):  # BatchCreatePartition takes at most 100 at a time
        chunk = partitions[start:start + 100]
        inputs = [{"Values": values, "StorageDescriptor": {**table["StorageDescriptor"],
                                                           "Location": location.rstrip("/") + "/"}}
                  for values, location in chunk]
        errors = client.batch_create_partition(DatabaseName=database, TableName=table["Name"],
                                               PartitionInputList=inputs).get("Errors", [])
        failed = [e for e in errors if e["ErrorDetail"]["ErrorCode"] != "AlreadyExistsException"]
        if failed:
            raise RuntimeError(f"cannot register partitions of {database}.{table['Name']}: "
                               f"{failed[0]['ErrorDetail']}")
        added += len(chunk) - len(errors)
    return added
