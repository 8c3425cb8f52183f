"""A run's dimensions: those whose lookup tables the batch touched, rebuilt from the current state and upserted
row by changed row; and the calendar (dim_date), extended only when a fact's date falls outside it."""

from __future__ import annotations

import datetime as dt
import logging

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from totes.iceberg import read_table
from totes.logs import log_event
from totes.manifests import TableOutput
from totes.star import star_table
from totes.tables import source_table
from totes.transform import dimensions as dims
from totes.transform.commits import RunCommits, in_parallel, inserted_and_rewritten
from totes.transform.contracts import require_no_blanks, require_resolved

logger = logging.getLogger("totes.transform")


class DimensionWriter:
    def __init__(self, commits: RunCommits):
        self.commits = commits

    def write_changed(self, changed: set[str], current: dict[str, DataFrame], currency_df: DataFrame,
                      batches: dict[str, DataFrame | None]) -> dict[str, TableOutput]:
        """Every dimension built from a lookup table in ``changed``; the others are not touched."""
        builders = {
            "dim_location": lambda: dims.dim_location(current["address"]),
            "dim_design": lambda: dims.dim_design(current["design"]),
            "dim_payment_type": lambda: dims.dim_payment_type(current["payment_type"]),
            "dim_transaction": lambda: dims.dim_transaction(current["transaction"]),
            "dim_staff": lambda: dims.dim_staff(current["staff"], current["department"]),
            "dim_counterparty": lambda: dims.dim_counterparty(current["counterparty"], current["address"]),
            "dim_currency": lambda: dims.dim_currency(currency_df),
        }

        def write(name: str) -> TableOutput:
            dim = star_table(name)
            dim_df = builders[name]()
            if name == "dim_staff":
                require_resolved(name, dim_df, "staff_id", "department_name", "department")
            if name == "dim_counterparty":
                require_resolved(name, dim_df, "counterparty_id", "counterparty_legal_address_line_1", "address")
            details = {}
            if name == "dim_currency":
                unknown_codes = _report_unknown_currencies(currency_df)
                details = {"unknown_currency_codes": unknown_codes} if unknown_codes else {}
            inputs = dims.DIMENSION_INPUTS[name]
            if len(inputs) == 1:
                # Only the rows of the keys the batch touched can differ from the table's (a delta touches a few
                # of the 1.7 million dim_transaction rows at scale 100).
                (source,) = inputs
                (key,) = dim.natural_key
                touched_df = batches[source].select(F.col(source_table(source).primary_key).alias(key))
                dim_df = dim_df.join(touched_df, on=key, how="left_semi")
            require_no_blanks(dim, dim_df)
            return self._upsert(name, dim_df, details)

        to_write = [name for name in builders if changed.intersection(dims.DIMENSION_INPUTS[name])]
        return dict(zip(to_write, in_parallel(write, to_write)))

    def write_calendar(self, date_range: list[str] | None, fact_outputs: dict[str, TableOutput]) -> TableOutput | None:
        """A gapless calendar of whole years covering ``date_range`` and every date the facts refer to; written
        only when a date falls outside the years ``date_range`` covers. The output's details give its range.

        Whole years because new orders are agreed for later days almost every day: a calendar ending on the last
        date referred to was rewritten (and reloaded) by most 15-minute runs, one of whole years about once a year.
        """
        bounds = [dt.date.fromisoformat(value) for value in date_range or []]
        for output in fact_outputs.values():
            bounds += [dt.date.fromisoformat(output.details[end]) for end in ("first_date", "last_date")
                       if output.details.get(end)]
        if not bounds:
            return None
        first_day, last_day = dt.date(min(bounds).year, 1, 1), dt.date(max(bounds).year, 12, 31)
        new_range = [first_day.isoformat(), last_day.isoformat()]
        if new_range == date_range:
            return None
        calendar_df = dims.dim_date(self.commits.spark, first_day, last_day)
        output = self._upsert("dim_date", calendar_df, {})
        output.details.update(first_date=new_range[0], last_date=new_range[1])
        return output

    def _upsert(self, name: str, dim_df: DataFrame, details: dict) -> TableOutput:
        """Upsert a dimension's rows on its natural key; a row equal to the table's is not rewritten."""
        dim = star_table(name)
        if self.commits.covers_inputs(name):
            return TableOutput(name, 0, details={"status": "unchanged", **details})
        before = self.commits.snapshot(name)
        changed_df = dim_df
        if before is not None:
            existing_df = read_table(self.commits.spark, self.commits.table(name), dim.spark_schema)
            changed_df = dim_df.join(existing_df, how="left_anti",
                                     on=[dim_df[c].eqNullSafe(existing_df[c]) for c in dim.column_names])
        after = self.commits.merge(name, changed_df, dim.natural_key, update_when="true")
        inserted, rewritten = inserted_and_rewritten(before, after)
        status = "written" if before is None or after.snapshot_id != before.snapshot_id else "unchanged"
        log_event(logger, "dimension built", table=name, status=status, inserted=inserted, rewritten=rewritten)
        return TableOutput(name, inserted, details={"status": status, "inserted": inserted, "rewritten": rewritten,
                                                    **details})


def _report_unknown_currencies(currency_df: DataFrame) -> list[str]:
    unknown = [row.currency_code for row in currency_df.where(~F.col("currency_known"))
               .select("currency_code").collect()]
    if unknown:
        log_event(logger, "currency codes unknown to ISO 4217: names left empty, their facts quarantined",
                  logging.WARNING, currency_codes=unknown)
    return unknown
