"""Rewind: one table's rows of a past window read again, as an ordinary ingestion run (README, "Rewind and backfill").

What it is for: a fix made in the source without moving ``last_updated`` (an application's repair script, a
backfilled column) is invisible to the deltas. The daily reconciliation finds it by hashing every row of every
table; a rewind brings a window the operator knows about back now, through the ``last_updated`` index of one
table.

A rewind run of the ingestion job:

- reads the rows of one table with ``FROM <= last_updated <= TO``. ``TO`` defaults to, and is capped at, the
  table's committed upper bound: rows above it have not been ingested yet and are the next delta's, which reads
  them exactly once as usual;
- writes them as an ordinary ingestion output (own run id, folder and manifest), marked as rows that may correct
  versions already ingested, as a reconciliation's are: downstream the later copy of a version wins, and the
  load corrects fact versions in place (record ids kept) and updates dimension rows;
- commits the bookmark with every table's upper bound where it was, so the deltas go on exactly where they
  would have; its files join the table's recent outputs, so the next delta's overlap does not ingest the same
  versions again.

It refuses, before reading anything, a window that cannot be read safely: unparsable, ``FROM`` after ``TO``, in
the future of the source's clock, or starting after what the bookmark says was ingested.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

from pyspark.sql import SparkSession

from totes.bookmarks import JobBookmark
from totes.ingest.errors import RewindRefusedError
from totes.ingest.run import (
    IngestionResult,
    SourceReader,
    TableResult,
    check_types,
    transformation_ctx,
    write_table,
)
from totes.ingest.source_schema import check_source_schema
from totes.ingest.window import ONE_TICK, ReadWindow, format_timestamp, parse_timestamp, window_query
from totes.logs import log_event
from totes.manifests import RunManifest, TableOutput, write_manifest
from totes.tables import SourceTable, source_table
from totes.zones import ZoneStore

logger = logging.getLogger("totes.ingest")

# The transformation takes an ingestion output whose details say this mode as rows that may correct versions
# already ingested (transform/run.py, _reconciled), which is what a rewind's rows are too.
CORRECTING_MODE = "reconcile"
TIME_FORMATS = "YYYY-MM-DD[ HH:MM[:SS[.mmm]]]"


def parse_rewind_time(text: str, argument: str) -> dt.datetime:
    """A moment on the source's ``last_updated`` clock (no time zone, milliseconds at most)."""
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise RewindRefusedError(f"rewind refused: {argument} {text!r} is not a time ({TIME_FORMATS})") from None
    if moment.tzinfo is not None:
        raise RewindRefusedError(f"rewind refused: {argument} {text!r} has a time zone; give it as the source's "
                                 f"last_updated shows it ({TIME_FORMATS})")
    if moment.microsecond % 1000:
        raise RewindRefusedError(f"rewind refused: {argument} {text!r} is finer than the source's milliseconds")
    return moment


@dataclass(frozen=True)
class RewindRequest:
    """What an operator asked to read again: one table, ``from_inclusive <= last_updated <= to_inclusive``."""

    table: SourceTable
    from_inclusive: dt.datetime
    to_inclusive: dt.datetime | None = None  # None: up to what the table's bookmark has ingested

    @classmethod
    def parse(cls, table_name: str, from_text: str, to_text: str = "") -> "RewindRequest":
        """The request of the job arguments (or ``make rewind``'s); refuses what no clock can make valid."""
        try:
            table = source_table(table_name.strip())
        except KeyError as error:
            raise RewindRefusedError(f"rewind refused: {error.args[0]}") from None
        if not from_text.strip():
            raise RewindRefusedError("rewind refused: a rewind needs the time to read from (FROM=, --rewind-from)")
        from_inclusive = parse_rewind_time(from_text, "FROM")
        to_inclusive = parse_rewind_time(to_text, "TO") if to_text.strip() else None
        if to_inclusive is not None and from_inclusive > to_inclusive:
            raise RewindRefusedError(f"rewind refused: FROM {format_timestamp(from_inclusive)} is after TO "
                                     f"{format_timestamp(to_inclusive)}")
        return cls(table, from_inclusive, to_inclusive)


def rewind_window(request: RewindRequest, ingested_to: dt.datetime | None, source_now: dt.datetime) -> ReadWindow:
    """The window a rewind reads, given the table's committed upper bound and the source's clock.

    Refused: a window in the future of the source's clock (a typo in the year, a clock taken for another time
    zone: nothing there can have been ingested), and one starting after the committed upper bound (the next
    delta reads those rows). A ``TO`` between the two is capped at the bound, for the same reason.
    """
    name = request.table.name
    if ingested_to is None:
        raise RewindRefusedError(f"rewind refused: {name} has never been ingested; the next run reads it in full")
    for label, moment in (("FROM", request.from_inclusive), ("TO", request.to_inclusive)):
        if moment is not None and moment > source_now:
            raise RewindRefusedError(f"rewind refused: {label} {format_timestamp(moment)} is in the future (the "
                                     f"source's clock says {format_timestamp(source_now)})")
    if request.from_inclusive > ingested_to:
        raise RewindRefusedError(f"rewind refused: FROM {format_timestamp(request.from_inclusive)} is after what "
                                 f"has been ingested of {name} (up to {format_timestamp(ingested_to)}); the next "
                                 "delta reads those rows")
    to_inclusive = ingested_to if request.to_inclusive is None else min(request.to_inclusive, ingested_to)
    return ReadWindow(request.from_inclusive - ONE_TICK, to_inclusive, ingested_to)


class RewindRun:
    """Reads one table's window again, writes it as a run of its own, commits a manifest, stages the bookmark."""

    def __init__(self, spark: SparkSession, reader: SourceReader, zone: ZoneStore, bookmark: JobBookmark,
                 run_id: str, request: RewindRequest, glue_job_run_id: str | None = None):
        self.spark = spark
        self.reader = reader
        self.zone = zone
        self.bookmark = bookmark
        self.run_id = run_id
        self.request = request
        self.glue_job_run_id = glue_job_run_id

    def run(self) -> IngestionResult:
        started_at = dt.datetime.now(dt.timezone.utc)
        started = time.monotonic()
        table = self.request.table
        ctx = transformation_ctx(table)
        state = self.bookmark.state(ctx) or {}
        window = rewind_window(self.request, parse_timestamp(state.get("to_inclusive")), self.reader.clock().now)
        check_source_schema([table], self.reader.observed_columns([table]))
        log_event(logger, "rewind started", run_id=self.run_id, table=table.name, window=window.to_dict(),
                  requested_to=format_timestamp(self.request.to_inclusive))
        # A rewind may span months of a busy table: one query per core, as a full read.
        partitions = max(1, self.spark.sparkContext.defaultParallelism)
        source_df = self.reader.query(window_query(table, window), table.name, table.primary_key, partitions)
        check_types(table, source_df)
        prefix = f"{table.name}/ingest_date={started_at:%Y-%m-%d}/run_id={self.run_id}"
        written = write_table(self.spark, self.reader, self.zone, table, source_df, prefix)
        result = TableResult(table.name, window, rows=written.rows, files=written.files,
                             seconds=round(time.monotonic() - started, 3))
        manifest = RunManifest(
            job_name=self.bookmark.job_name, run_id=self.run_id, started_at=started_at.isoformat(),
            finished_at=dt.datetime.now(dt.timezone.utc).isoformat(), bookmark_option=self.bookmark.option,
            glue_job_run_id=self.glue_job_run_id,
            tables={table.name: TableOutput(table.name, result.rows, result.files, window=window.to_dict(),
                                            details={"status": result.status, "mode": CORRECTING_MODE,
                                                     "rewind_from": format_timestamp(self.request.from_inclusive),
                                                     "rewind_to": format_timestamp(window.to_inclusive),
                                                     "seconds": result.seconds})},
        )
        manifest_key = write_manifest(self.zone, manifest)
        if result.files:
            # The upper bound stays; the next delta's overlap may meet these versions and must not read them again.
            state.setdefault("recent_outputs", []).append(
                {"run_id": self.run_id, "to_inclusive": format_timestamp(window.to_inclusive), "files": result.files})
            self.bookmark.stage(ctx, state)
        log_event(logger, "rewind manifest written", manifest=manifest_key, table=table.name, rows=result.rows,
                  seconds=result.seconds)
        return IngestionResult(self.run_id, manifest_key, [result])
