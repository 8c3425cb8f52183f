"""The processed zone's tables as one transformation run writes them: their names and definitions, and the run's
commits to them.

Each table commits on its own (Iceberg commits one table at a time), carrying the run id and the last input run in
its snapshot summary. That summary is what lets a run killed between two commits be completed by the next run
from the same inputs: a table whose current snapshot already covers them is not written again.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from totes import spark_threads
from totes.iceberg import (ProcessedCatalog, Snapshot, commits_tagged, create_table, current_snapshot, merge_into,
                           replace_rows)
from totes.spark_errors import file_failure, is_java_error, names_a_file
from totes.star import WAREHOUSE_TABLES
from totes.tables import expected_spark_schema, source_table
from totes.transform.contracts import TableCommitError
from totes.transform.facts import FACT_PARTITION_SPEC
from totes.transform.quality import FACT_SOURCE_TABLES, QUARANTINE_REASON, QUARANTINE_RULE

# Source tables whose full current state the dimensions and the quality rules need.
LOOKUP_TABLES = ("address", "counterparty", "currency", "department", "design", "payment_type", "staff",
                 "transaction")
# The snapshot summary key naming the last ingestion run a commit's rows include.
INPUT_THROUGH_PROPERTY = "totes.input-through"

# Outputs written at the same time: each small write is mostly driver round trips (planning, commit, footers),
# which overlap well; the big ones share the cores either way.
PARALLEL_WRITES = 4


def in_parallel(function, items) -> list:
    """``[function(item) for item in items]``, a few writes at a time (:func:`totes.spark_threads.in_parallel`)."""
    return spark_threads.in_parallel(function, items, PARALLEL_WRITES, "transform")


def current_state_table(source: str) -> str:
    """The Iceberg table holding the current row of every key of a lookup source table."""
    return f"current_{source}"


def quarantine_table(fact_source: str) -> str:
    return f"quarantine_{fact_source}"


def quarantine_schema(fact_source: str) -> T.StructType:
    """A held-back row as it was ingested, with the rule it broke and why."""
    schema = expected_spark_schema(source_table(fact_source))
    return T.StructType([*schema.fields, T.StructField(QUARANTINE_RULE, T.StringType()),
                         T.StructField(QUARANTINE_REASON, T.StringType())])


def ensure_tables(spark: SparkSession, catalog: ProcessedCatalog) -> None:
    """Every table of the processed zone exists (created empty the first time), so readers always find it."""
    definitions = [(current_state_table(name), expected_spark_schema(source_table(name)), None)
                   for name in LOOKUP_TABLES]
    definitions += [(quarantine_table(name), quarantine_schema(name), None) for name in FACT_SOURCE_TABLES]
    definitions += [(table.name, table.spark_schema, FACT_PARTITION_SPEC if table.is_fact else None)
                    for table in WAREHOUSE_TABLES]
    in_parallel(lambda definition: create_table(spark, catalog, *definition), definitions)


def inserted_and_rewritten(before: Snapshot | None, after: Snapshot | None) -> tuple[int, int]:
    """Rows a commit added, and rows of files it rewrote (copy-on-write: the changed rows and their neighbours)."""
    if after is None or (before is not None and after.snapshot_id == before.snapshot_id):
        return 0, 0
    total_before = before.count("total-records") if before else 0
    return after.count("total-records") - total_before, after.count("deleted-records")


class RunCommits:
    """One run's commits to the processed zone's tables, each tagged with the run and its last input run."""

    def __init__(self, spark: SparkSession, catalog: ProcessedCatalog, run_id: str, input_through: str):
        self.spark = spark
        self.catalog = catalog
        self.run_id = run_id
        self.input_through = input_through

    def table(self, name: str) -> str:
        """The table's name as Spark SQL knows it (catalog and namespace)."""
        return self.catalog.table(name)

    def snapshot(self, name: str) -> Snapshot | None:
        return current_snapshot(self.spark, self.table(name))

    def covers_inputs(self, name: str) -> Snapshot | None:
        """The table's snapshot if a run (this one's predecessor, killed before its manifest) already committed
        this run's inputs to it; then it is not written again."""
        snapshot = self.snapshot(name)
        if snapshot is not None and snapshot.summary.get(INPUT_THROUGH_PROPERTY) == self.input_through:
            return snapshot
        return None

    def merge(self, name: str, source_df: DataFrame, keys, update_when: str | None = None) -> Snapshot | None:
        """MERGE into a table (:func:`totes.iceberg.merge_into`); into one never written, a plain append."""
        table = self.table(name)

        def commit():
            if current_snapshot(self.spark, table) is None:
                source_df.writeTo(table).append()
                return current_snapshot(self.spark, table)
            return merge_into(self.spark, table, source_df, keys, update_when)

        return self._committed(name, commit)

    def replace(self, name: str, rows_df: DataFrame) -> Snapshot | None:
        return self._committed(name, lambda: replace_rows(self.spark, self.table(name), rows_df))

    def _committed(self, name: str, commit) -> Snapshot | None:
        """Run one table's commit tagged with the run; a failure names the table, which stays at its snapshot."""
        before = self.snapshot(name)
        try:
            with commits_tagged(self.spark, self.run_id, {INPUT_THROUGH_PROPERTY: self.input_through}):
                return commit()
        except Exception as error:
            if not is_java_error(error) or names_a_file(file_failure(error)):
                raise  # a bad input file is the input's problem (the run names it), not the commit's
            raise TableCommitError(
                f"the commit to {name} failed, the table stays at snapshot "
                f"{before.snapshot_id if before else '(none)'}: {' '.join(file_failure(error).split())[:500]}"
            ) from None
