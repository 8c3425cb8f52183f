"""The transformation's silver layer: the current row of every key of each lookup source table, kept with MERGE
in an Iceberg table of its own (``current_<table>``), from which the dimensions are built and facts judged."""

from __future__ import annotations

from pyspark.sql import DataFrame

from totes.iceberg import read_table, same_row
from totes.tables import expected_spark_schema, source_table
from totes.transform.commits import LOOKUP_TABLES, RunCommits, current_state_table, in_parallel
from totes.transform.contracts import MandatoryDimensionEmptyError, latest_versions
from totes.transform.inputs import InputBatches

# Without rows in these, no fact can pass the rules: an empty one is a systemic problem, not a row problem.
MANDATORY_TABLES = ("address", "counterparty", "currency", "design", "payment_type", "staff", "department")


class CurrentState:
    """One run's view of the lookup tables' current state: updated from the batches, then read whole."""

    def __init__(self, commits: RunCommits):
        self.commits = commits
        self.rows: dict[str, int] = {}  # lookup table -> rows of its current state, once read

    def update(self, inputs: InputBatches, batches: dict[str, DataFrame | None]) -> set[str]:
        """MERGE each touched lookup table's batch into its current state; returns the names of those tables.

        The latest version of a key wins; of two copies of one version, the batch's (a reconciliation's
        correction of a row edited without a new last_updated). A key the batch does not touch is never read
        into a rewritten file: copy-on-write rewrites only the files holding a matched key.
        """
        def update(name: str) -> None:
            table = source_table(name)
            if self.commits.covers_inputs(current_state_table(name)):
                return
            batch_df = batches[name]
            if inputs.runs[name] > 1:
                batch_df = batch_df.transform(latest_versions(table))
            newer = (f"s.last_updated > t.last_updated OR (s.last_updated = t.last_updated "
                     f"AND NOT ({same_row(table.column_names)}))")
            self.commits.merge(current_state_table(name), batch_df, [table.primary_key], update_when=newer)

        changed = [name for name in LOOKUP_TABLES if batches[name] is not None]
        in_parallel(update, changed)
        return set(changed)

    def read(self) -> dict[str, DataFrame]:
        """Every lookup table's current rows; refuses a run for which a mandatory one has none."""
        current = dict(zip(LOOKUP_TABLES, in_parallel(self._read, LOOKUP_TABLES)))
        empty = [name for name in MANDATORY_TABLES if self.rows.get(name, 0) == 0]
        if empty:
            raise MandatoryDimensionEmptyError(
                f"no rows have ever been ingested for {', '.join(empty)}; every fact depends on them "
                "(was the ingestion run with --tables, or is the source empty?)")
        return current

    def _read(self, name: str) -> DataFrame:
        table_name = current_state_table(name)
        current_df = read_table(self.commits.spark, self.commits.table(table_name),
                                expected_spark_schema(source_table(name)))
        snapshot = self.commits.snapshot(table_name)
        self.rows[name] = snapshot.count("total-records") if snapshot else 0
        return current_df
