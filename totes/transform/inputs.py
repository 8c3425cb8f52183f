"""A transformation run's input: the ingestion runs it takes, read per source table as one batch."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

from totes.manifests import RunManifest
from totes.parquet_io import run_id_of_input_file
from totes.tables import expected_spark_schema, source_table
from totes.transform.contracts import check_input_schema, one_row_per_version
from totes.zones import ZoneStore

# Of two copies of a row, the later is the source's: the ingestion run id orders them (run ids sort by time).
INGESTED_IN = "_ingested_in"


class InputBatches:
    """The rows the input runs ingested, per source table, with how many runs and rows hold each table."""

    def __init__(self, spark: SparkSession, ingestion_zone: ZoneStore, manifests: list[RunManifest]):
        self.spark = spark
        self.zone = ingestion_zone
        self.manifests = manifests
        self.runs: dict[str, int] = {}  # source table -> how many input runs hold rows of it
        self.rows: dict[str, int] = {}  # source table -> rows of it in the input runs (from the manifests)

    @property
    def last_run_id(self) -> str:
        return self.manifests[-1].run_id

    def _runs_with_rows(self, table_name: str) -> list[RunManifest]:
        return [m for m in self.manifests if table_name in m.tables and m.tables[table_name].files]

    def read(self, table_name: str) -> DataFrame | None:
        """The table's rows of every input run, one copy of each version; None when no run holds any."""
        runs_with_rows = self._runs_with_rows(table_name)
        if not runs_with_rows:
            return None
        self.runs[table_name] = len(runs_with_rows)
        self.rows[table_name] = sum(manifest.tables[table_name].rows for manifest in runs_with_rows)
        files = [key for manifest in runs_with_rows for key in manifest.tables[table_name].files]
        table = source_table(table_name)
        check_input_schema(table, files, self.zone.uri_of)
        batch_df = self.spark.read.schema(expected_spark_schema(table)).parquet(*(self.zone.uri_of(key) for key in files))
        # One ingestion run holds each version once (a SELECT of a table with a primary key); only several
        # runs can repeat a version: after a reset, with the bookmark disabled, or a reconciliation that
        # re-ingested a row edited without a new last_updated. The copy of the latest run is the source's.
        if len(runs_with_rows) > 1:
            batch_df = (batch_df.withColumn(INGESTED_IN, run_id_of_input_file())
                        .transform(one_row_per_version(table, newer_first=INGESTED_IN)))
        return batch_df

    def corrects_versions(self, table_name: str) -> bool:
        """Whether a reconciliation among the inputs re-ingested rows of the table (versions may be corrected)."""
        return any(m.tables[table_name].details.get("mode") == "reconcile" for m in self._runs_with_rows(table_name))

    def deletion_files(self) -> list[tuple[str, str]]:
        """(source table, file key) of every deletion record a reconciliation among the inputs wrote."""
        return [(name, key) for manifest in self.manifests for name, output in manifest.tables.items()
                for key in output.details.get("deletion_files", [])]
