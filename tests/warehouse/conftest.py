"""Fixtures of the warehouse tests: a throwaway migrated warehouse per test, processed batches, a job harness.

The processed batches are what the transformation job commits (its input contract): per transform run,
commits to the processed zone's Iceberg tables and one manifest naming every table's snapshot. They are
committed once per session into a library zone; each test registers the library's tables in its own zone's
catalog (Iceberg's register_table: the same metadata and data files, read only) and commits (writes the manifest
of) only the runs it wants, so the other runs' snapshots are there but no load may read them.

The runs, in run-id order:

- ``FIRST``: complete dimension snapshots and the first fact versions;
- ``OVERLAP``: repeats two fact versions of ``FIRST`` (a MERGE keeps them once) and adds sales order 4;
- ``UPDATE``: payment 1 becomes paid (a new version), staff 1 moves department (an updated ``dim_staff`` row),
  sales order 3 with its transaction and payment; the other dimensions unchanged;
- ``BAD_FK``: three sales orders with a design (999) and one with a staff member (77) no dimension has (last:
  its snapshots hold every run's rows before it).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import importlib.util
import json
import re
import shutil
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from pyspark.sql.pandas.types import to_arrow_schema

from totes import logs
from totes.bookmarks import bookmark_key
from totes.iceberg import ProcessedCatalog, catalog_from_args, create_table, current_snapshot, merge_into, same_row
from totes.iceberg import use_catalog
from totes.manifests import RunManifest, TableOutput, list_manifests, write_manifest
from totes.secrets import DatabaseCredentials, LocalSecretProvider
from totes.settings import (
    LOAD_JOB_NAME,
    LOCAL_SECRETS_DIR,
    PROCESSED_CATALOG_SECRET_ID,
    PROCESSED_DATABASE,
    REPO_DIR,
    TRANSFORM_JOB_NAME,
    WAREHOUSE_READONLY_SECRET_ID,
    WAREHOUSE_SECRET_ID,
)
from totes.star import STAR_TABLES, StarTable, star_table
from totes.transform.facts import FACT_PARTITION_SPEC
from totes.warehouse.database import connect
from totes.warehouse.loader import BulkLoadPolicy, WarehouseLoader
from totes.warehouse.migrations import migrate
from totes.zones import ZoneStore

LOAD_SCRIPT = REPO_DIR / "glue_jobs" / "load_warehouse.py"

FIRST = "20240701T180000000Z-0000f125"
OVERLAP = "20240701T190000000Z-0000c0de"
UPDATE = "20240702T180000000Z-0000a2b3"
BAD_FK = "20240703T200000000Z-0000bad1"

D = dt.date


def _date_row(day: dt.date) -> tuple:
    return (day, day.year, day.month, day.day, day.isoweekday(), day.strftime("%A"), day.strftime("%B"),
            (day.month - 1) // 3 + 1)


DIM_DATE_ROWS = [_date_row(D(2024, 6, 28) + dt.timedelta(days=n)) for n in range(20)]  # 2024-06-28 .. 07-17

STAFF = [
    (1, "Jeremie", "Franey", "Purchasing", "Manchester", "jeremie.franey@terrifictotes.com"),
    (2, "Deron", "Beier", "Facilities", None, "deron.beier@terrifictotes.com"),
]
STAFF_AFTER_MOVE = [
    (1, "Jeremie", "Franey", "Production", "Leeds", "jeremie.franey@terrifictotes.com"),
    STAFF[1],
]
LOCATIONS = [
    (1, "6826 Herzog Via", None, "Avon", "New Patienceburgh", "28441", "Turkey", "1803 637401"),
    (2, "179 Alexie Cliffs", None, None, "Aliso Viejo", "99305-7380", "San Marino", "9621 880720"),
    (3, "37736 Heathcote Lock", "Noemy Pines", "Bedfordshire", "Sayreville", "85544-4254", "Congo",
     "0212 730286"),
]
CURRENCIES = [(1, "GBP", "Pound Sterling"), (2, "USD", "US Dollar"), (3, "EUR", "Euro")]
DESIGNS = [
    (1, "Wooden", "/usr", "wooden-20220717-npgz.json"),
    (2, "Granite", "/private/var", "granite-20220717-g8ec.json"),
]
COUNTERPARTIES = [
    (1, "Fahey and Sons", "605 Haskell Trafficway", "Axel Freeway", None, "East Bobbie", "88253-4257",
     "Heard Island and McDonald Islands", "9687 937447"),
    (2, "Leannon, Predovic and Morar", "079 Horacio Landing", None, None, "Utica", "93045", "Austria",
     "7772 084705"),
]
TRANSACTIONS = [(1, "SALE", 1, None), (2, "SALE", 2, None), (3, "PURCHASE", None, 1)]
TRANSACTIONS_AFTER_UPDATE = TRANSACTIONS + [(4, "SALE", 3, None)]
PAYMENT_TYPES = [(1, "SALES_RECEIPT"), (2, "SALES_REFUND"), (3, "PURCHASE_PAYMENT"), (4, "PURCHASE_REFUND")]


def _sales_order(sales_order_id, created, created_time, updated, updated_time, staff_id=1, counterparty_id=1,
                 units=100, price="2.50", currency_id=1, design_id=1, payment_date=D(2024, 7, 5),
                 delivery_date=D(2024, 7, 8), location_id=1) -> tuple:
    return (sales_order_id, created, created_time, updated, updated_time, staff_id, counterparty_id, units,
            Decimal(price), currency_id, design_id, payment_date, delivery_date, location_id)


SALES_ORDERS_FIRST = [
    _sales_order(1, D(2024, 7, 1), "09:15:20.123", D(2024, 7, 1), "09:15:20.123"),
    _sales_order(2, D(2024, 7, 1), "10:00:00.000", D(2024, 7, 1), "10:00:00.000", staff_id=2,
                 counterparty_id=2, units=7, price="3.99", currency_id=2, design_id=2,
                 payment_date=D(2024, 7, 10), delivery_date=D(2024, 7, 4), location_id=2),
]
SALES_ORDER_4 = _sales_order(4, D(2024, 7, 1), "18:30:00.250", D(2024, 7, 1), "18:30:00.250", units=12,
                             price="12345678.99", currency_id=3, location_id=3)
SALES_ORDERS_BAD_FK = [
    _sales_order(5, D(2024, 7, 1), "19:00:00.000", D(2024, 7, 1), "19:00:00.000", design_id=999),
    _sales_order(6, D(2024, 7, 1), "19:00:01.000", D(2024, 7, 1), "19:00:01.000", design_id=999),
    _sales_order(7, D(2024, 7, 1), "19:00:02.000", D(2024, 7, 1), "19:00:02.000", design_id=999, staff_id=77),
]
SALES_ORDER_3 = _sales_order(3, D(2024, 7, 2), "08:30:00.500", D(2024, 7, 2), "08:30:00.500",
                             counterparty_id=2, units=50, price="1.25", currency_id=3,
                             payment_date=D(2024, 7, 9), delivery_date=D(2024, 7, 6))
PURCHASE_ORDERS_FIRST = [
    (1, D(2024, 7, 1), "11:11:11.111", D(2024, 7, 1), "11:11:11.111", 2, 1, "ZDOI5EA", 371, Decimal("361.39"),
     1, D(2024, 7, 9), D(2024, 7, 7), 2),
]
PAYMENTS_FIRST = [
    (1, D(2024, 7, 1), "09:15:20.123", D(2024, 7, 1), "09:15:20.123", 1, 1, Decimal("250.00"), 1, 1, False,
     D(2024, 7, 5)),
    (2, D(2024, 7, 1), "10:00:00.000", D(2024, 7, 1), "10:00:00.000", 2, 2, Decimal("27.93"), 2, 1, False,
     D(2024, 7, 10)),
    (3, D(2024, 7, 1), "11:11:11.111", D(2024, 7, 1), "11:11:11.111", 3, 1, Decimal("134311.89"), 1, 3, False,
     D(2024, 7, 7)),
]
PAYMENT_1_PAID = (1, D(2024, 7, 1), "09:15:20.123", D(2024, 7, 2), "14:00:00.000", 1, 1, Decimal("250.00"), 1,
                  1, True, D(2024, 7, 5))
PAYMENT_4 = (4, D(2024, 7, 2), "08:30:00.500", D(2024, 7, 2), "08:30:00.500", 4, 2, Decimal("62.50"), 3, 1,
             False, D(2024, 7, 9))

FIRST_DIMENSIONS = {
    "dim_date": DIM_DATE_ROWS, "dim_staff": STAFF, "dim_location": LOCATIONS, "dim_currency": CURRENCIES,
    "dim_design": DESIGNS, "dim_counterparty": COUNTERPARTIES, "dim_transaction": TRANSACTIONS,
    "dim_payment_type": PAYMENT_TYPES,
}

# run id -> {table: rows written by that run}; a dimension a run does not rewrite keeps the previous snapshot.
RUNS = {
    FIRST: {**FIRST_DIMENSIONS, "fact_sales_order": SALES_ORDERS_FIRST,
            "fact_purchase_order": PURCHASE_ORDERS_FIRST, "fact_payment": PAYMENTS_FIRST},
    OVERLAP: {"fact_sales_order": [SALES_ORDERS_FIRST[1], SALES_ORDER_4],
              "fact_purchase_order": PURCHASE_ORDERS_FIRST, "fact_payment": []},
    UPDATE: {"dim_staff": STAFF_AFTER_MOVE, "dim_transaction": TRANSACTIONS_AFTER_UPDATE,
             "fact_sales_order": [SALES_ORDER_3], "fact_payment": [PAYMENT_1_PAID, PAYMENT_4]},
    BAD_FK: {"fact_sales_order": SALES_ORDERS_BAD_FK},
}
PROCESSED_CATALOG = f"jdbc:{PROCESSED_CATALOG_SECRET_ID}"


def arrow_rows(table: StarTable, rows: list[tuple]) -> pa.Table:
    """Rows as the load job's Spark read hands them to the loader: the star schema's Arrow types."""
    schema = to_arrow_schema(table.spark_schema)
    return pa.Table.from_pylist([dict(zip(table.column_names, row)) for row in rows], schema=schema)


def load_batch(credentials: DatabaseCredentials, batch: dict[StarTable, list[tuple]],
               policy: BulkLoadPolicy = BulkLoadPolicy(), corrected_facts: frozenset[str] = frozenset()):
    """One batch through the loader on its own (no Spark); the tables in the order given (load order)."""
    data = {table.name: arrow_rows(table, rows) for table, rows in batch.items()}
    with connect(credentials) as conn:
        return WarehouseLoader(conn, policy).load(list(batch), lambda table: data[table.name], corrected_facts)



def processed_catalog(zone_uri: str) -> ProcessedCatalog:
    return catalog_from_args({"processed_catalog": PROCESSED_CATALOG, "catalog_database": PROCESSED_DATABASE,
                              "processed_zone": zone_uri})


@dataclass
class ProcessedLibrary:
    """Every run committed to the library zone's tables; ``manifests`` are built, not written (tests commit them)."""

    zone_uri: str
    manifests: dict[str, RunManifest]
    metadata_files: dict[str, str]  # table -> its current metadata file


def _write_library(spark, zone_uri: str) -> ProcessedLibrary:
    """Commit every run as the transformation would: facts inserted once per version, dimensions upserted."""
    catalog = processed_catalog(zone_uri)
    use_catalog(spark, catalog)
    manifests = {}
    for table in STAR_TABLES:
        create_table(spark, catalog, table.name, table.spark_schema,
                     FACT_PARTITION_SPEC if table.is_fact else None)
    for run_id, written in RUNS.items():
        tables = {}
        for table in STAR_TABLES:
            rows = written.get(table.name)
            identifier = catalog.table(table.name)
            if rows:
                rows_df = spark.createDataFrame(rows, table.spark_schema)
                if current_snapshot(spark, identifier) is None:
                    rows_df.writeTo(identifier).append()
                else:
                    merge_into(spark, identifier, rows_df, table.natural_key,
                               None if table.is_fact else f"NOT ({same_row(table.column_names)})")
            snapshot = current_snapshot(spark, identifier)
            tables[table.name] = TableOutput(table.name, len(rows or []), details={
                "status": "written" if rows else "unchanged", "snapshot_id": snapshot and snapshot.snapshot_id})
        manifests[run_id] = RunManifest(
            job_name=TRANSFORM_JOB_NAME, run_id=run_id, started_at=f"{run_id[:8]}T18:00:00+00:00",
            finished_at=f"{run_id[:8]}T18:00:05+00:00", bookmark_option="job-bookmark-enable",
            glue_job_run_id=None, tables=tables, inputs=[f"ingest-of-{run_id}"])
    metadata_files = {table.name: metadata_file(spark, catalog.table(table.name)) for table in STAR_TABLES}
    return ProcessedLibrary(zone_uri, manifests, metadata_files)


def metadata_file(spark, identifier: str) -> str:
    jvm_table = spark.sparkContext._jvm.org.apache.iceberg.spark.Spark3Util.loadIcebergTable(
        spark._jsparkSession, identifier)
    return jvm_table.operations().current().metadataFileLocation()


@pytest.fixture(scope="session")
def processed_library(spark, tmp_path_factory) -> ProcessedLibrary:
    return _write_library(spark, tmp_path_factory.mktemp("processed-library").as_uri())


@pytest.fixture(scope="session")
def warehouse_owner_credentials() -> DatabaseCredentials:
    """The loader role: owns the warehouse tables and may create throwaway databases."""
    return LocalSecretProvider(LOCAL_SECRETS_DIR).get_database_credentials(WAREHOUSE_SECRET_ID)


@pytest.fixture(scope="session")
def warehouse_reader_credentials() -> DatabaseCredentials:
    return LocalSecretProvider(LOCAL_SECRETS_DIR).get_database_credentials(WAREHOUSE_READONLY_SECRET_ID)


def _database_name(request) -> str:
    # PostgreSQL names stop at 63 bytes; the hash keeps long or parametrised test names apart.
    digest = hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:10]
    return "wh_" + re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:40] + "_" + digest


@pytest.fixture
def empty_warehouse_db(request, warehouse_owner_credentials) -> DatabaseCredentials:
    """A fresh, empty database owned by the loader (not migrated)."""
    from totes.source.database import create_database, drop_database

    name = _database_name(request)
    credentials = create_database(warehouse_owner_credentials, name)
    yield credentials
    drop_database(warehouse_owner_credentials, name)


@pytest.fixture
def warehouse_db(empty_warehouse_db) -> DatabaseCredentials:
    """A fresh warehouse database with every migration applied. Yields the loader's credentials for it."""
    # Log to this test's stderr: an earlier job run bound the handler to a capture pytest has closed since.
    logs.configure(job="tests")
    with connect(empty_warehouse_db) as conn:
        migrate(conn)
    return empty_warehouse_db


def write_local_secret(secrets_dir: Path, secret_id: str, credentials: DatabaseCredentials) -> None:
    path = secrets_dir / f"{secret_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dataclasses.asdict(credentials)))


def load_load_job():
    """The Glue script as a module, so tests call its main() with a Glue-style argv."""
    spec = importlib.util.spec_from_file_location("load_warehouse", LOAD_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class LoadHarness:
    spark: object
    credentials: DatabaseCredentials  # the loader's, for this test's warehouse
    secrets_dir: Path
    zone: ZoneStore
    library: ProcessedLibrary
    job: object
    committed: list[str] = field(default_factory=list)

    def commit(self, *run_ids: str) -> None:
        """Commit transform runs: write their manifests into the zone (their files are already there)."""
        for run_id in run_ids:
            write_manifest(self.zone, self.library.manifests[run_id])
            self.committed.append(run_id)

    def run(self, option: str = "job-bookmark-enable", secret_id: str = WAREHOUSE_SECRET_ID):
        argv = [str(LOAD_SCRIPT), "--JOB_NAME", LOAD_JOB_NAME, "--processed-zone", self.zone.uri,
                "--warehouse-secret-id", secret_id, "--processed-catalog", PROCESSED_CATALOG,
                "--job-bookmark-option", option]
        return self.job.main(argv)

    def sql(self, statement: str, params=None) -> list[tuple]:
        with connect(self.credentials) as conn:
            cursor = conn.execute(statement, params)
            rows = cursor.fetchall() if cursor.description else []
            conn.commit()
            return rows

    def rows(self, table_name: str) -> list[tuple]:
        """Every row of a warehouse table, record id first for facts, in key order."""
        table = star_table(table_name)
        columns = ([table.record_id] if table.is_fact else []) + list(table.column_names)
        return self.sql(f"SELECT {', '.join(columns)} FROM {table.name} ORDER BY 1")

    def dump(self, exclude: tuple[str, ...] = ()) -> dict[str, list[tuple]]:
        """The whole warehouse, every table (but ``exclude``), for exact before/after comparisons."""
        return {table.name: self.rows(table.name) for table in STAR_TABLES if table.name not in exclude}

    def counts(self) -> dict[str, int]:
        return {table.name: self.sql(f"SELECT count(*) FROM {table.name}")[0][0] for table in STAR_TABLES}

    def bookmark_text(self) -> str | None:
        key = bookmark_key(LOAD_JOB_NAME)
        return self.zone.read_text(key) if self.zone.exists(key) else None

    def load_manifests(self) -> list[RunManifest]:
        return list_manifests(self.zone, LOAD_JOB_NAME)

    def data_file(self, run_id: str, table_name: str) -> Path:
        """The local path of the data file a run's commit added to a table (to break it)."""
        snapshot_id = self.library.manifests[run_id].tables[table_name].details["snapshot_id"]
        identifier = processed_catalog(self.zone.uri).table(table_name)
        (row,) = self.spark.sql(f"SELECT data_file.file_path AS path FROM {identifier}.entries "
                                f"WHERE snapshot_id = {snapshot_id} AND status = 1").collect()
        return Path(row.path.removeprefix("file:"))


def register_library(spark, library: ProcessedLibrary, zone_uri: str) -> None:
    """The library's tables in the catalog of ``zone_uri``: the same metadata and data files."""
    catalog = processed_catalog(zone_uri)
    use_catalog(spark, catalog)
    for name, metadata in library.metadata_files.items():
        spark.sql(f"CALL {catalog.spark_name}.system.register_table(table => '{catalog.namespace}.{name}', "
                  f"metadata_file => '{metadata}')")


def _harness(spark, warehouse_db, library, tmp_path, monkeypatch) -> LoadHarness:
    zone = ZoneStore.for_uri((tmp_path / "processed").as_uri())
    register_library(spark, library, zone.uri)
    secrets_dir = tmp_path / "secrets"
    write_local_secret(secrets_dir, WAREHOUSE_SECRET_ID, warehouse_db)
    shutil.copy(LOCAL_SECRETS_DIR / f"{PROCESSED_CATALOG_SECRET_ID}.json",
                secrets_dir / f"{PROCESSED_CATALOG_SECRET_ID}.json")
    monkeypatch.setenv("TOTES_LOCAL_SECRETS_DIR", str(secrets_dir))
    return LoadHarness(spark, warehouse_db, secrets_dir, zone, library, load_load_job())


@pytest.fixture
def loading(spark, warehouse_db, processed_library, tmp_path, monkeypatch) -> LoadHarness:
    """The load job over this test's warehouse, and a processed zone holding every run's commits, none of the
    runs committed by a manifest."""
    return _harness(spark, warehouse_db, processed_library, tmp_path, monkeypatch)


@pytest.fixture
def loading_own_files(spark, warehouse_db, tmp_path, monkeypatch) -> LoadHarness:
    """As ``loading``, over a library of this test's own, whose files the test may break."""
    library = _write_library(spark, (tmp_path / "library").as_uri())
    return _harness(spark, warehouse_db, library, tmp_path, monkeypatch)


@pytest.fixture
def loaded_once(loading) -> LoadHarness:
    """The harness after the first transform run was committed and loaded."""
    loading.commit(FIRST)
    loading.run()
    return loading

