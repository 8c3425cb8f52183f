"""A harness for the transformation Glue script over an ingestion zone the tests write by hand.

Writing the ingestion zone directly (tiny parquet files plus a manifest, exactly as the ingestion job lays them
out) keeps these tests about the transformation: every row is visible in the test that uses it.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from totes.tables import expected_spark_schema
from totes.parquet_io import arrow_schema
from totes.manifests import RunManifest, TableOutput, list_manifests, new_run_id, write_manifest
from totes.iceberg import ProcessedCatalog, catalog_from_args, read_table
from totes.settings import INGEST_JOB_NAME, PROCESSED_CATALOG_SECRET_ID, PROCESSED_DATABASE, REPO_DIR, TRANSFORM_JOB_NAME
from totes.star import star_table
from totes.tables import SOURCE_TABLES
from totes.zones import ZoneStore

TRANSFORM_SCRIPT = REPO_DIR / "glue_jobs" / "transform_totesys.py"
# The local stack's processed catalog: Iceberg's JDBC catalog in the local PostgreSQL server; each test's zone is a
# catalog of its own there (totes.iceberg.ProcessedCatalog.spark_name).
PROCESSED_CATALOG = f"jdbc:{PROCESSED_CATALOG_SECRET_ID}"
T0 = dt.datetime(2024, 11, 4, 9, 30, 0, 125000)


def _utc(value):
    return value.replace(tzinfo=dt.timezone.utc) if isinstance(value, dt.datetime) else value


def ts(minutes: float = 0) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def load_transform_job():
    spec = importlib.util.spec_from_file_location("transform_totesys", TRANSFORM_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def base_rows() -> dict[str, list[tuple]]:
    """A tiny but complete totesys: every lookup, two sales, one purchase, their transactions and payments."""
    t = ts()
    return {
        "address": [
            (1, "6826 Herzog Via", None, "Avon", "New Patienceburgh", "28441", "Turkey", "1803 637401", t, t),
            (2, "179 Alexie Cliffs", "  ", None, "Aliso Viejo", "99305-7380", "San Marino", "9621 880720", t, t),
        ],
        "counterparty": [
            (1, "Fahey and Sons", 2, "Micheal Toy", "Mrs. Lucy Runolfsdottir", t, t),
            (2, "Leannon, Predovic and Morar", 1, None, None, t, t),
        ],
        "currency": [(1, "GBP", t, t), (2, "USD", t, t), (3, "EUR", t, t)],
        "department": [(1, "Sales", "Manchester", "Richard Roma", t, t), (2, "Purchasing", "Leds", None, t, t)],
        "design": [(1, t, "Wooden", "/usr", "wooden-20220717-npgz.json", t),
                   (2, t, "Bronze", "/private", "bronze-20221024-4dds.json", t)],
        "payment_type": [(1, "SALES_RECEIPT", t, t), (2, "SALES_REFUND", t, t), (3, "PURCHASE_PAYMENT", t, t),
                         (4, "PURCHASE_REFUND", t, t)],
        "staff": [(1, "Jeremie", "Franey", 1, "jeremie.franey@terrifictotes.com", t, t),
                  (2, "Deron", "Beier", 2, "deron.beier@terrifictotes.com", t, t)],
        "sales_order": [
            (1, t, t, 1, 1, 1, 84754, Decimal("2.43"), 1, "2024-11-07", "2024-11-08", 1),
            (2, t, t, 2, 1, 2, 42972, Decimal("3.94"), 2, "2024-11-05", "2024-11-07", 2),
        ],
        "purchase_order": [(1, t, t, 2, 1, "ZDOPXLB", 824, Decimal("872.74"), 3, "2024-11-06", "2024-11-09", 1)],
        "transaction": [(1, "SALE", 1, None, t, t), (2, "SALE", 2, None, t, t), (3, "PURCHASE", None, 1, t, t)],
        "payment": [
            (1, t, t, 1, 1, Decimal("205952.22"), 1, 1, False, "2024-11-08", 67305075, 31622269),
            (2, t, t, 2, 2, Decimal("169309.68"), 2, 1, False, "2024-11-07", 81718079, 47839086),
            (3, t, t, 3, 2, Decimal("719137.76"), 3, 3, False, "2024-11-09", 95496740, 17618839),
        ],
    }


@dataclass
class TransformHarness:
    spark: object
    ingestion: ZoneStore
    processed: ZoneStore
    job: object

    def ingest(self, rows_by_table: dict[str, list[tuple]]) -> str:
        """Write one ingestion run holding these rows, as the ingestion job would; returns its run id."""
        run_id = new_run_id()
        outputs = {}
        for table in SOURCE_TABLES:
            rows = rows_by_table.get(table.name, [])
            files = []
            if rows:
                # pyarrow writes the same physical types as Spark (see totes.parquet_io), in milliseconds.
                key = f"{table.name}/ingest_date=2024-11-04/run_id={run_id}/part-00000.parquet"
                schema = arrow_schema(expected_spark_schema(table))
                arrow_rows = [[_utc(value) for value in row] for row in rows]
                path = Path(urlparse(self.ingestion.uri_of(key)).path)
                path.parent.mkdir(parents=True)
                pq.write_table(pa.Table.from_pylist([dict(zip(schema.names, row)) for row in arrow_rows], schema),
                               path)
                files = [key]
            outputs[table.name] = TableOutput(table.name, len(rows), files)
        now = dt.datetime.now(dt.timezone.utc).isoformat()
        write_manifest(self.ingestion, RunManifest(INGEST_JOB_NAME, run_id, now, now, "job-bookmark-enable", None,
                                                   outputs))
        return run_id

    @property
    def catalog(self) -> ProcessedCatalog:
        return catalog_from_args({"processed_catalog": PROCESSED_CATALOG, "catalog_database": PROCESSED_DATABASE,
                                  "processed_zone": self.processed.uri})

    def run(self, option: str = "job-bookmark-enable"):
        return self.job.main(["transform_totesys.py", "--JOB_NAME", TRANSFORM_JOB_NAME, "--ingestion-zone",
                              self.ingestion.uri, "--processed-zone", self.processed.uri,
                              "--processed-catalog", PROCESSED_CATALOG, "--job-bookmark-option", option])

    def manifests(self):
        return list_manifests(self.processed, TRANSFORM_JOB_NAME)

    def table(self, name: str, manifest: RunManifest | None = None):
        """A warehouse table as the processed zone holds it: at the snapshot the latest (or the given) manifest
        names."""
        manifest = manifest or self.manifests()[-1]
        snapshot_id = manifest.tables[name].details.get("snapshot_id")
        schema = star_table(name).spark_schema
        if snapshot_id is None:
            return self.spark.createDataFrame([], schema)
        return read_table(self.spark, self.catalog.table(name), schema, snapshot_id)

    def quarantine(self, source: str):
        return self.spark.table(self.catalog.table(f"quarantine_{source}")).collect()

    def bookmark_text(self) -> str | None:
        key = f"_state/bookmarks/{TRANSFORM_JOB_NAME}.json"
        return self.processed.read_text(key) if self.processed.exists(key) else None


@pytest.fixture
def transform(spark, tmp_path) -> TransformHarness:
    return TransformHarness(spark, ZoneStore.for_uri(str(tmp_path / "ingestion")),
                            ZoneStore.for_uri(str(tmp_path / "processed")), load_transform_job())


