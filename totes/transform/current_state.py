"""The transformation's silver layer: the current row of every key of each lookup source table, kept with MERGE
in an Iceberg table of its own (``current_<table>``), from which the dimensions are built.

The facts are judged against the keys the current state will hold once the run's batches are merged: the keys at
the table's snapshot and the batch's. Those are known before the MERGE commits (keys are never removed), so the
current state's MERGE and the facts run side by side; only the dimensions wait for the MERGE.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from totes.iceberg import read_table, same_row
from totes.tables import expected_spark_schema, source_table
from totes.transform.commits import LOOKUP_TABLES, RunCommits, current_state_table, in_parallel
from totes.transform.contracts import MandatoryDimensionEmptyError, latest_versions
from totes.transform.inputs import InputBatches

# Without rows in these, no fact can pass the rules: an empty one is a systemic problem, not a row problem.
MANDATORY_TABLES = ("address", "counterparty", "currency", "design", "payment_type", "staff", "department")
NEWER = "_newer"


class CurrentState:
    """One run's view of the lookup tables' current state: its keys with the batches', the batches merged into
    it, then its rows."""

    def __init__(self, commits: RunCommits, inputs: InputBatches, batches: dict[str, DataFrame | None]):
        self.commits = commits
        self.inputs = inputs
        self.batches = batches
        # lookup table -> rows of its current state with the batch's (an upper bound: a batch may update keys)
        self.rows: dict[str, int] = {}

    def keys(self) -> dict[str, DataFrame]:
        """Every key of each lookup table once the batches are in (column ``<table>_id``); refuses a run for
        which a mandatory table has no row."""
        keys = dict(zip(LOOKUP_TABLES, in_parallel(self._keys, LOOKUP_TABLES)))
        self._check_mandatory()
        return keys

    def _keys(self, name: str) -> DataFrame:
        key = source_table(name).primary_key
        current_df, rows = self._read(name)
        batch_df = self.batches.get(name)
        self.rows[name] = rows + (self.inputs.rows[name] if batch_df is not None else 0)
        if batch_df is None:
            return current_df.select(key)
        return current_df.select(key).unionByName(batch_df.select(key)).distinct()

    def with_batch(self, name: str) -> DataFrame:
        """A lookup table's current rows with its batch in, before the MERGE commits them (for a small table:
        a window over all its rows): the latest version of each key, the batch's copy of an equal version."""
        table = source_table(name)
        current_df, _ = self._read(name)
        batch_df = self.batches.get(name)
        if batch_df is None:
            return current_df
        return (current_df.withColumn(NEWER, F.lit(0)).unionByName(batch_df.withColumn(NEWER, F.lit(1)))
                .transform(latest_versions(table, newer_first=NEWER)))

    def update(self) -> set[str]:
        """MERGE each touched lookup table's batch into its current state; returns the names of those tables.

        The latest version of a key wins; of two copies of one version, the batch's (a reconciliation's
        correction of a row edited without a new last_updated). A key the batch does not touch is never read
        into a rewritten file: copy-on-write rewrites only the files holding a matched key.
        """
        def update(name: str) -> None:
            table = source_table(name)
            if self.commits.covers_inputs(current_state_table(name)):
                return
            batch_df = self.batches[name]
            if self.inputs.runs[name] > 1:
                batch_df = batch_df.transform(latest_versions(table))
            newer = (f"s.last_updated > t.last_updated OR (s.last_updated = t.last_updated "
                     f"AND NOT ({same_row(table.column_names)}))")
            self.commits.merge(current_state_table(name), batch_df, [table.primary_key], update_when=newer)

        changed = [name for name in LOOKUP_TABLES if self.batches[name] is not None]
        in_parallel(update, changed)
        return set(changed)

    def read(self) -> dict[str, DataFrame]:
        """Every lookup table's current rows (after :meth:`update`)."""
        return dict(zip(LOOKUP_TABLES, in_parallel(lambda name: self._read(name)[0], LOOKUP_TABLES)))

    def _check_mandatory(self) -> None:
        empty = [name for name in MANDATORY_TABLES if self.rows.get(name, 0) == 0]
        if empty:
            raise MandatoryDimensionEmptyError(
                f"no rows have ever been ingested for {', '.join(empty)}; every fact depends on them "
                "(was the ingestion run with --tables, or is the source empty?)")

    def _read(self, name: str) -> tuple[DataFrame, int]:
        """The table's current rows, and how many there are."""
        table_name = current_state_table(name)
        current_df = read_table(self.commits.spark, self.commits.table(table_name),
                                expected_spark_schema(source_table(name)))
        snapshot = self.commits.snapshot(table_name)
        return current_df, snapshot.count("total-records") if snapshot else 0
