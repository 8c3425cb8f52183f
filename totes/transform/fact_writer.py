"""A run's facts: each fact source table's candidates (the batch and the rows held back before) judged by the
quality rules, the passed ones merged into the fact table, the others kept in the table's quarantine."""

from __future__ import annotations

import logging
import time

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from totes.iceberg import read_table, same_row
from totes.logs import log_event
from totes.manifests import TableOutput
from totes.tables import source_table
from totes.transform.commits import RunCommits, inserted_and_rewritten, quarantine_schema, quarantine_table
from totes.transform.contracts import one_row_per_version
from totes.transform.facts import FACT_BUILDERS, date_bounds
from totes.transform.inputs import InputBatches
from totes.transform.quality import (
    FACT_PARENTS,
    QUARANTINE_REASON,
    QUARANTINE_RULE,
    filter_passed,
    filter_quarantined,
    judged_quality,
    table_rules,
    with_quality_verdicts,
)
from totes.transform.quality_report import QUALITY_DETAILS, all_passed
from totes.transform.staging import stage, unstage

logger = logging.getLogger("totes.transform")

NEWER = "_newer"
# A fact batch of up to this many rows (a delta) checks its foreign keys against a big parent only where it
# refers to it (quality.with_quality_verdicts): broadcasting this many keys is cheap, shuffling the 1.7 million
# transaction keys of scale 100 on every run is not.
SMALL_BATCH_ROWS = 100_000
BIG_PARENT_ROWS = 100_000


class FactWriter:
    def __init__(self, commits: RunCommits, inputs: InputBatches, current_rows: dict[str, int]):
        self.commits = commits
        self.inputs = inputs
        self.current_rows = current_rows

    def write(self, fact_source: str, batch_df: DataFrame | None, parent_keys: dict[str, DataFrame],
              currency_df: DataFrame) -> dict[str, TableOutput]:
        """The fact table of one source table and its quarantine; {} when there is nothing to judge.

        ``parent_keys``: every key of each parent table (column ``<parent>_id``); ``currency_df``: the staged
        currencies with their ISO 4217 names (:func:`totes.transform.dimensions.with_currency_names`).
        """
        started = time.monotonic()
        fact, build = FACT_BUILDERS[fact_source]
        table = source_table(fact_source)
        held_df = read_table(self.commits.spark, self.commits.table(quarantine_table(fact_source)),
                             quarantine_schema(fact_source))
        pending_df = held_df.select(*table.column_names)
        pending_snapshot = self.commits.snapshot(quarantine_table(fact_source))
        pending_rows = pending_snapshot.count("total-records") if pending_snapshot else 0
        if batch_df is None and pending_rows == 0:
            return {}
        if batch_df is not None and pending_rows:
            # A held-back version may have been ingested again since (corrected by a reconciliation).
            candidates_df = (batch_df.withColumn(NEWER, F.lit(1)).unionByName(pending_df.withColumn(NEWER, F.lit(0)))
                             .transform(one_row_per_version(table, newer_first=NEWER)))
        else:
            candidates_df = batch_df if batch_df is not None else pending_df
        corrects_versions = self.inputs.corrects_versions(fact_source)
        judged_df = (candidates_df.transform(stage(table))
                     .transform(with_quality_verdicts(fact_source, parent_keys, currency_df,
                                                      self._parents_to_narrow(fact_source, pending_rows)))
                     .cache())
        try:
            fact_df = judged_df.transform(filter_passed).transform(build)
            passed, first_date, last_date = date_bounds(fact_df, fact)
            inserted = rewritten = 0
            if passed and not self.commits.covers_inputs(fact.name):
                # A version is there once: a rerun inserts nothing new, and a reconciliation's corrected copy of
                # a version replaces it in place (its natural key kept).
                update_when = f"NOT ({same_row(fact.column_names)})" if corrects_versions else None
                before = self.commits.snapshot(fact.name)
                after = self.commits.merge(fact.name, fact_df, fact.natural_key, update_when)
                inserted, rewritten = inserted_and_rewritten(before, after)
            if pending_rows == 0 and self.inputs.runs.get(fact_source) == 1 \
                    and passed == self.inputs.rows[fact_source]:
                # Every candidate became a fact row: nothing to quarantine, no job to find that out. Equal counts
                # mean exactly that because a fact is a select of the passed rows, the verdicts' left joins meet
                # at most one parent row per key (current states hold one row per key), and one ingestion run
                # holds each version once.
                quality = all_passed(table_rules(fact_source), passed)
            else:
                quality = judged_quality(fact_source, judged_df, held_df.select(
                    table.primary_key, "last_updated", QUARANTINE_RULE) if pending_rows else None)
            if (quality.quarantined or pending_rows) and not self.commits.covers_inputs(quarantine_table(fact_source)):
                quarantine_df = judged_df.transform(filter_quarantined).transform(
                    unstage(table, keep=(QUARANTINE_RULE, QUARANTINE_REASON)))
                self.commits.replace(quarantine_table(fact_source), quarantine_df.coalesce(1))
        finally:
            judged_df.unpersist()
        quarantined, released, rules = quality.quarantined, quality.released, quality.quarantined_by_rule
        if quarantined:
            log_event(logger, "rows quarantined", logging.WARNING, table=fact.name, rows=quarantined,
                      rules=rules, quarantine=quarantine_table(fact_source))
        seconds = round(time.monotonic() - started, 3)
        status = "written" if inserted or rewritten else "unchanged"
        log_event(logger, "fact built", table=fact.name, rows=inserted, rewritten=rewritten, status=status,
                  quarantined=quarantined, released=released, seconds=seconds)
        details = {"status": status, "inserted": inserted, "rewritten": rewritten, "quarantined": quarantined,
                   "released": released, "quarantine_rules": rules,
                   "first_date": first_date and first_date.isoformat(),
                   "last_date": last_date and last_date.isoformat(), "seconds": seconds,
                   "corrects_versions": corrects_versions,
                   QUALITY_DETAILS: quality.as_dict()}
        return {fact.name: TableOutput(fact.name, inserted, details=details)}

    def _parents_to_narrow(self, fact_source: str, pending_rows: int) -> frozenset[str]:
        """The big parents a small batch checks its foreign keys against only where it refers to them."""
        candidate_rows = self.inputs.rows.get(fact_source, 0) + pending_rows
        if candidate_rows > SMALL_BATCH_ROWS:
            return frozenset()
        return frozenset(parent for _, parent in FACT_PARENTS[fact_source] if parent != "currency"
                         and self.current_rows.get(parent, 0) >= BIG_PARENT_ROWS)
