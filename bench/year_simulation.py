"""A year of small deltas committed to the fact tables, the way each design of the processed zone commits them.

The start: the fact tables of a real full run at scale 1 (their rows are the templates of every new row). Each
simulated run is a small delta shaped as the bench's small change: 5 new sales orders, 2 new purchase orders,
5 new payments and 5 older payments marked paid (a new version of each, in the month it was created), stamped
with the run's time on the schedule; a new day adds its ``dim_date`` row. The same rows go to both designs:

- **before** (the hand-made format until the Iceberg change): every run writes its rows as new parquet files
  under ``<fact>/run_id=<run>/created_year=<y>/created_month=<m>/``, one partition per run and month it touches,
  never compacted; a changed ``dim_date`` is a new complete snapshot. Written by this module with pyarrow in that
  layout (the format's code is gone), for every run of the year. Queries read each fact through one hive-
  partitioned glob (the old ``make query`` listed each partition; one glob is the kinder reading).
- **after** (Iceberg): every run MERGEs its rows into each fact table exactly as the transformation does
  (:func:`totes.iceberg.merge_into` on the natural version key, the commit tagged with the run), the three facts
  in parallel; once a simulated day the tables are maintained as the workflow definition says (compaction with
  :func:`totes.maintenance.compact`, snapshots expired past the retention with
  :func:`totes.maintenance.expire_snapshots`; no orphan files arise without failed commits).

A year of the 15-minute schedule is 35,040 runs. The "after" side commits at the schedule's cadence for the first
``first_days`` and the last ``last_days`` days (longer than the snapshot retention, so the year's end holds the
steady state of snapshots and small files); the days between are committed ``step_days`` at a time (one MERGE
with their runs' rows, then maintenance), since after a day's compaction and the retention's expiry a table holds
the same files whichever way its rows came. Every checkpoint of "after" ends with one run committed alone (the
small delta timed) and the load's read of that commit (:func:`totes.warehouse.batch.read_changes`); at cadence a
checkpoint is the end of a day before its maintenance, the day's worst state. The named queries
(``sql/athena/``) run through DuckDB on both sides: ``make query``'s reading of the Iceberg tables, and the
parquet layout's.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import shutil
import statistics
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql.pandas.types import to_arrow_schema

from bench.env import ScaleWorld
from bench.progress import log
from totes.iceberg import catalog_from_args, commits_tagged, current_snapshot, merge_into, use_catalog
from totes.local import query as iceberg_query
from totes.local.spark import get_local_spark
from totes.maintenance import compact, expire_snapshots, load_maintenance
from totes.settings import PROCESSED_CATALOG_SECRET_ID
from totes.star import DIM_DATE, FACT_PAYMENT, FACT_PURCHASE_ORDER, FACT_SALES_ORDER, FACTS, StarTable, star_table
from totes.transform.dimensions import dim_date
from totes.transform.commits import in_parallel
from totes.warehouse.batch import TableChanges, read_changes

CATALOG_DATABASE = "bench_processed"
# The dimensions the named queries join (read once from the full run; dim_date grows a day at a time).
QUERIED_DIMENSIONS = ("dim_counterparty", "dim_currency", "dim_date", "dim_design", "dim_payment_type")
# Per run, as bench.workflow_run's small change.
NEW_SALES_ORDERS, NEW_PURCHASE_ORDERS, NEW_PAYMENTS, PAYMENTS_MARKED_PAID = 5, 2, 5, 5
QUERY_REPEATS = 3


@dataclass(frozen=True)
class YearPlan:
    days: int = 365
    runs_per_day: int = 96
    first_days: int = 1
    last_days: int = 6
    step_days: int = 30

    @property
    def runs(self) -> int:
        return self.days * self.runs_per_day

    @property
    def interval(self) -> dt.timedelta:
        return dt.timedelta(days=1) / self.runs_per_day

    def at_cadence(self, day: int) -> bool:
        return day < self.first_days or day >= self.days - self.last_days

    def span_end(self, day: int) -> int:
        """The last day committed with ``day``: itself at cadence, else the last day of its step."""
        if self.at_cadence(day):
            return day
        step = (day - self.first_days) // self.step_days
        return min(self.first_days + (step + 1) * self.step_days, self.days - self.last_days) - 1

    def before_checkpoint_days(self) -> list[int]:
        """The days (0-based) at whose end the parquet layout is measured: its queries read every file so far."""
        return sorted({0, min(6, self.days - 1), self.days // 12, self.days // 4, self.days // 2, self.days - 1})


class DeltaRows:
    """The rows of each simulated run, from the real rows of the full run's fact tables (deterministic per run)."""

    def __init__(self, base: dict[str, list[dict]], seed: int = 42):
        self.base = base
        self.seed = seed
        self.next_id = {fact.name: max(row[fact.natural_key[0]] for row in base[fact.name]) + 1 for fact in FACTS}
        latest: dict[int, dict] = {}
        for row in sorted(base[FACT_PAYMENT.name], key=lambda r: (r["last_updated_date"], r["last_updated_time"])):
            latest[row["payment_id"]] = row
        self.unpaid = deque(row for row in latest.values() if not row["paid"])

    def _new(self, fact: StarTable, template: dict, at: dt.datetime, rng: random.Random, **changes) -> dict:
        row = dict(template)
        key = fact.natural_key[0]
        row[key] = self.next_id[fact.name]
        self.next_id[fact.name] += 1
        stamp = at.strftime("%H:%M:%S.") + f"{at.microsecond // 1000:03d}"
        row.update(created_date=at.date(), created_time=stamp, last_updated_date=at.date(), last_updated_time=stamp)
        row.update(changes)
        return row

    def run(self, index: int, at: dt.datetime) -> dict[str, list[dict]]:
        rng = random.Random(self.seed * 1_000_003 + index)

        def later(days: int) -> dt.date:
            return at.date() + dt.timedelta(days=rng.randint(1, days))

        pick = {fact.name: (lambda name=fact.name: rng.choice(self.base[name])) for fact in FACTS}
        sales = [self._new(FACT_SALES_ORDER, pick[FACT_SALES_ORDER.name](), at, rng,
                           agreed_payment_date=later(30), agreed_delivery_date=later(30))
                 for _ in range(NEW_SALES_ORDERS)]
        purchases = [self._new(FACT_PURCHASE_ORDER, pick[FACT_PURCHASE_ORDER.name](), at, rng,
                               agreed_delivery_date=later(30), agreed_payment_date=later(30))
                     for _ in range(NEW_PURCHASE_ORDERS)]
        new_payments = [self._new(FACT_PAYMENT, pick[FACT_PAYMENT.name](), at, rng, paid=False,
                                  payment_date=later(30)) for _ in range(NEW_PAYMENTS)]
        stamp = at.strftime("%H:%M:%S.") + f"{at.microsecond // 1000:03d}"
        paid = []
        for _ in range(min(PAYMENTS_MARKED_PAID, len(self.unpaid))):
            paid.append({**self.unpaid.popleft(), "paid": True, "last_updated_date": at.date(),
                         "last_updated_time": stamp})
        self.unpaid.extend(new_payments)
        return {FACT_SALES_ORDER.name: sales, FACT_PURCHASE_ORDER.name: purchases,
                FACT_PAYMENT.name: new_payments + paid}


def _seconds(started: float) -> float:
    return round(time.monotonic() - started, 4)


def _timed_queries(connection, queries: dict[str, str]) -> dict[str, float]:
    timings = {}
    for name, sql in queries.items():
        runs = []
        for _ in range(QUERY_REPEATS):
            started = time.monotonic()
            connection.execute(sql).fetchall()
            runs.append(time.monotonic() - started)
        timings[name] = round(statistics.median(runs), 4)
    return timings


def _folder_figures(path: Path) -> tuple[int, int]:
    files = [entry for entry in path.rglob("*") if entry.is_file()]
    return len(files), sum(entry.stat().st_size for entry in files)


class RunFolderLayout:
    """The hand-made format's layout of the facts and the queried dimensions, in a folder of its own."""

    def __init__(self, root: Path):
        self.root = root
        shutil.rmtree(root, ignore_errors=True)
        self.files = {fact.name: 0 for fact in FACTS}
        self.bytes = {fact.name: 0 for fact in FACTS}
        self.partitions = {fact.name: 0 for fact in FACTS}
        self.current_snapshot: dict[str, str] = {}

    def _write(self, table: StarTable, folder: Path, rows: list[dict]) -> int:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "part-00000.parquet"
        pq.write_table(pa.Table.from_pylist(rows, schema=to_arrow_schema(table.spark_schema)), path,
                       compression="snappy")
        return path.stat().st_size

    def write_facts(self, run_id: str, rows_by_fact: dict[str, list[dict]]) -> None:
        for name, rows in rows_by_fact.items():
            by_month: dict[tuple[int, int], list[dict]] = {}
            for row in rows:
                by_month.setdefault((row["created_date"].year, row["created_date"].month), []).append(row)
            for (year, month), month_rows in by_month.items():
                folder = self.root / name / f"run_id={run_id}" / f"created_year={year}" / f"created_month={month}"
                self.bytes[name] += self._write(star_table(name), folder, month_rows)
                self.files[name] += 1
                self.partitions[name] += 1

    def write_snapshot(self, name: str, run_id: str, rows: list[dict]) -> None:
        self._write(star_table(name), self.root / name / f"run_id={run_id}", rows)
        self.current_snapshot[name] = run_id

    def connect(self) -> duckdb.DuckDBPyConnection:
        connection = duckdb.connect()
        for fact in FACTS:
            connection.execute(f"CREATE VIEW {fact.name} AS SELECT * FROM read_parquet("
                               f"'{self.root / fact.name}/*/*/*/*.parquet', hive_partitioning = true)")
        for name, run_id in self.current_snapshot.items():
            connection.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet("
                               f"'{self.root / name}/run_id={run_id}/*.parquet')")
        return connection

    def figures(self, queries: dict[str, str]) -> dict:
        started = time.monotonic()
        with self.connect() as connection:
            connected = _seconds(started)
            timings = _timed_queries(connection, queries)
        return {"tables": {name: {"data_files": self.files[name], "partitions": self.partitions[name],
                                  "data_bytes": self.bytes[name]} for name in self.files},
                "query_seconds": timings, "connect_seconds": connected}


class IcebergSide:
    """The fact tables of the full run, committed to and maintained as the pipeline does."""

    def __init__(self, spark, world: ScaleWorld):
        self.spark = spark
        self.catalog = catalog_from_args({"processed_catalog": f"jdbc:{PROCESSED_CATALOG_SECRET_ID}",
                                          "catalog_database": CATALOG_DATABASE,
                                          "processed_zone": world.processed_zone})
        use_catalog(spark, self.catalog)
        self.zone_path = Path(urlparse(world.processed_zone).path)
        self.policy = load_maintenance().policy
        self.commit_times: list[tuple[dt.datetime, dt.datetime]] = []  # (simulated, wall) of each run's commit
        # Each fact's snapshot after its last commit, and before it: what the load reads of one run.
        self.latest = {fact.name: current_snapshot(spark, self.table(fact.name)).snapshot_id for fact in FACTS}
        self.previous = dict(self.latest)

    def table(self, name: str) -> str:
        return self.catalog.table(name)

    def read_rows(self, table: StarTable) -> list[dict]:
        return pa.Table.from_batches(self.spark.read.format("iceberg").load(self.table(table.name))
                                     ._collect_as_arrow()).to_pylist()

    def commit(self, run_id: str, rows_by_fact: dict[str, list[dict]], simulated: dt.datetime) -> float:
        """One run's MERGE into each fact table, in parallel as the transformation writes them; its seconds."""
        def merge(name: str) -> None:
            table = star_table(name)
            rows_df = self.spark.createDataFrame(rows_by_fact[name], table.spark_schema)
            with commits_tagged(self.spark, run_id):
                snapshot = merge_into(self.spark, self.table(name), rows_df, table.natural_key)
            self.previous[name], self.latest[name] = self.latest[name], snapshot.snapshot_id

        started = time.monotonic()
        in_parallel(merge, rows_by_fact)
        self.commit_times.append((simulated, dt.datetime.now(dt.timezone.utc)))
        return _seconds(started)

    def add_dates(self, run_id: str, dates_df) -> None:
        with commits_tagged(self.spark, run_id):
            merge_into(self.spark, self.table(DIM_DATE.name), dates_df, DIM_DATE.natural_key)

    def maintain(self, simulated_now: dt.datetime) -> dict:
        """Compaction and snapshot expiry of the simulated tables; the retention counted in simulated time: the
        snapshots expired are those committed before the simulated ``now`` minus the retention."""
        cutoff = simulated_now - dt.timedelta(days=self.policy.snapshot_retention_days)
        newer = [wall for simulated, wall in self.commit_times if simulated > cutoff]
        started = time.monotonic()
        rewritten = expired = 0
        for name in (*(fact.name for fact in FACTS), DIM_DATE.name):
            rewritten += compact(self.spark, self.table(name), f"maintenance-{simulated_now:%Y%m%dT%H%M}")
            if newer:
                expired += expire_snapshots(self.spark, self.catalog, name, newer[0],
                                            self.policy.snapshots_to_retain)
        return {"seconds": _seconds(started), "rewritten_data_files": rewritten, "expired_data_files": expired}

    def load_read(self) -> dict[str, float]:
        """The load's read of each fact's last commit: Iceberg's changelog between its two snapshots."""
        timings = {}
        for fact in FACTS:
            started = time.monotonic()
            read_changes(self.spark, self.catalog, TableChanges(fact, self.previous[fact.name], self.latest[fact.name]))
            timings[fact.name] = _seconds(started)
        return timings

    def figures(self, queries: dict[str, str]) -> dict:
        tables = {}
        for fact in FACTS:
            identifier = self.table(fact.name)
            summary = current_snapshot(self.spark, identifier).summary
            metadata_files, metadata_bytes = _folder_figures(self.zone_path / fact.name / "metadata")
            tables[fact.name] = {
                "data_files": int(summary.get("total-data-files", 0)),
                "data_bytes": int(summary.get("total-files-size", 0)),
                "rows": int(summary.get("total-records", 0)),
                "partitions": self.spark.sql(f"SELECT count(*) AS n FROM {identifier}.partitions").first()["n"],
                "snapshots": self.spark.sql(f"SELECT count(*) AS n FROM {identifier}.snapshots").first()["n"],
                "metadata_files": metadata_files, "metadata_bytes": metadata_bytes}
        started = time.monotonic()
        with iceberg_query.connect(self.catalog.zone_uri, CATALOG_DATABASE) as connection:
            connected = _seconds(started)
            timings = _timed_queries(connection, queries)
        return {"tables": tables, "query_seconds": timings, "connect_seconds": connected}


def simulate_year(world: ScaleWorld, plan: YearPlan, scratch: Path) -> dict:
    queries = iceberg_query.named_queries()
    spark = get_local_spark("bench year of runs")
    try:
        after = IcebergSide(spark, world)
        base = {fact.name: after.read_rows(fact) for fact in FACTS}
        dimensions = {name: after.read_rows(star_table(name)) for name in QUERIED_DIMENSIONS}
        before = RunFolderLayout(scratch / "before")
        before.write_facts("base", base)
        for name, rows in dimensions.items():
            before.write_snapshot(name, "base", rows)
        covered = max(row["date_id"] for row in dimensions[DIM_DATE.name])
        last_created = max(row["created_date"] for rows in base.values() for row in rows)
        start = dt.datetime.combine(last_created + dt.timedelta(days=1), dt.time(0, 7), tzinfo=dt.timezone.utc)
        delta = DeltaRows(base)
        report = {"plan": dataclasses.asdict(plan), "start": start.isoformat(), "checkpoints": [],
                  "base_rows": {name: len(rows) for name, rows in base.items()}, "before_checkpoints": [],
                  "runs": {"at_cadence": 0, "in_steps": 0, "commits": 0}}
        log("year: the full run's tables, measured")
        report["start_figures"] = {"after": after.figures(queries), "before": before.figures(queries)}
        before_days = set(plan.before_checkpoint_days())
        pending: dict[str, list[dict]] = {fact.name: [] for fact in FACTS}
        cadence_seconds: list[float] = []
        since = time.monotonic()
        for day in range(plan.days):
            first_run = day * plan.runs_per_day
            span_last_date = (start + ((plan.span_end(day) + 1) * plan.runs_per_day - 1) * plan.interval).date()
            if span_last_date > covered:
                # The calendar reaches the span's last day: one dim_date commit, a new snapshot in the old layout.
                dates_df = dim_date(spark, covered + dt.timedelta(days=1), span_last_date)
                after.add_dates(f"sim-{first_run:06d}", dates_df)
                dimensions[DIM_DATE.name] += pa.Table.from_batches(dates_df._collect_as_arrow()).to_pylist()
                before.write_snapshot(DIM_DATE.name, f"sim-{first_run:06d}", dimensions[DIM_DATE.name])
                covered = span_last_date
            for run in range(first_run, first_run + plan.runs_per_day):
                at = start + run * plan.interval
                rows = delta.run(run, at)
                before.write_facts(f"sim-{run:06d}", rows)
                if plan.at_cadence(day):
                    cadence_seconds.append(after.commit(f"sim-{run:06d}", rows, at))
                    report["runs"]["at_cadence"] += 1
                    report["runs"]["commits"] += 1
                else:
                    for name, fact_rows in rows.items():
                        pending[name].extend(fact_rows)
                    report["runs"]["in_steps"] += 1
            day_end = start + (first_run + plan.runs_per_day) * plan.interval
            checkpoint = None
            if plan.at_cadence(day):
                checkpoint = {"day": day + 1, "at_cadence": True,
                              "small_delta_seconds": round(statistics.median(cadence_seconds), 4),
                              "small_delta_seconds_max": round(max(cadence_seconds), 4),
                              "load_read_seconds": after.load_read(), **after.figures(queries),
                              "maintenance": after.maintain(day_end)}
                cadence_seconds = []
            elif plan.span_end(day) == day:
                after.commit(f"sim-step-{day + 1:03d}", pending, day_end)
                report["runs"]["commits"] += 1
                pending = {fact.name: [] for fact in FACTS}
                maintenance = after.maintain(day_end)
                # One run committed alone on the maintained tables: the small delta and its load read, timed.
                probe_at = day_end + dt.timedelta(seconds=1)
                probe_rows = delta.run(10_000_000 + day, probe_at)
                before.write_facts(f"sim-probe-{day + 1:03d}", probe_rows)
                checkpoint = {"day": day + 1, "at_cadence": False,
                              "small_delta_seconds": after.commit(f"sim-probe-{day + 1:03d}", probe_rows, probe_at),
                              "load_read_seconds": after.load_read(), "maintenance": maintenance,
                              **after.figures(queries)}
            if checkpoint is not None:
                checkpoint["wall_seconds"] = _seconds(since)
                report["checkpoints"].append(checkpoint)
                log(f"year: day {day + 1}: after {_brief(checkpoint)}")
                since = time.monotonic()
            if day in before_days:
                figures = {"day": day + 1, **before.figures(queries)}
                report["before_checkpoints"].append(figures)
                log(f"year: day {day + 1}: before {_brief(figures)}")
        return report
    finally:
        spark.stop()


def _brief(figures: dict) -> str:
    files = sum(table["data_files"] for table in figures["tables"].values())
    queries = sum(figures["query_seconds"].values())
    extra = f", small delta {figures['small_delta_seconds']} s" if "small_delta_seconds" in figures else ""
    return f"{files} fact data files, named queries {queries:.2f} s{extra}"
