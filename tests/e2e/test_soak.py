"""Soak: randomised source activity concurrent with many short scheduled cycles, then the equality check.

While background threads insert orders, mark payments paid in batches, hold transactions open for random
times (some across a whole cycle), commit them out of order and roll some back (``totes.source.soak``), the
foreground runs workflow cycles back to back, each the three real Glue scripts. Then the writer stops, a final
cycle runs once everything committed is under the read bound, and:

- the ingestion zone holds every committed version exactly once (README, "The bookmark guarantee");
- the warehouse facts hold exactly the seeded versions plus every version the writer committed, once each;
- dimensions and the sums per currency equal SQL over the source (``check_warehouse_against_source``).

A cycle that fails because the database went away (other tests restart the shared server) is followed by the
next, as on the schedule; at most MAX_FAILED_CYCLES may. The read window is the one the workflow deploys: the
documented defaults (read lag 5 s, overlap 300 s, maximum transaction wait 600 s). The seed of a run is in
every assertion message; ``TOTES_SOAK_SEED=<seed>`` replays its random choices (the threads' timing against
the pipeline is the machine's).
"""

from __future__ import annotations

import json
import os
import secrets
import time
from datetime import UTC

import psycopg
import pyarrow.parquet as pq
import pytest

from tests.conftest import PROCESSED_CATALOG_ARGS
from tests.e2e.conftest import VERSIONS_IN_SOURCE, _script, check_warehouse_against_source, rows_of
from totes.ingest.errors import SourceUnavailableError
from totes.manifests import list_manifests
from totes.preflight import PreflightError
from totes.settings import (
    DEFAULT_OVERLAP_SECONDS,
    DEFAULT_READ_LAG_SECONDS,
    INGEST_JOB_NAME,
    LOAD_JOB_NAME,
    REPO_DIR,
    SOURCE_SECRET_ID,
    TRANSFORM_JOB_NAME,
    WAREHOUSE_SECRET_ID,
)
from totes.source.database import connect as source_connect
from totes.source.soak import SoakActivity, SoakWriter
from totes.tables import PAYMENT, source_table
from totes.warehouse.database import connect as warehouse_connect
from totes.warehouse.errors import WarehouseUnavailableError
from totes.zones import ZoneStore

pytestmark = pytest.mark.slow

# Bounds: at most CYCLES cycles while the writer runs (the first one the full read), and none started after
# ACTIVITY_SECONDS once MIN_CYCLES are done; the writer itself stops after ACTIVITY.max_transactions.
CYCLES = 10
MIN_CYCLES = 8
ACTIVITY_SECONDS = 110
# The read window the workflow deploys (workflow.json passes none of these, so the jobs take the defaults).
READ_LAG_SECONDS = DEFAULT_READ_LAG_SECONDS
OVERLAP_SECONDS = DEFAULT_OVERLAP_SECONDS
MAX_TRANSACTION_WAIT_SECONDS = 600
FINAL_CYCLES = 3
# Cycles a server restart may fail (other tests restart the shared server); more is a failure of its own.
MAX_FAILED_CYCLES = 2
# A restart before a job's first read fails its pre-flight (the connection refused).
DATABASE_GONE = (SourceUnavailableError, WarehouseUnavailableError, PreflightError, psycopg.OperationalError)
ACTIVITY = SoakActivity(order_writers=3, payers=1, max_transactions=400, max_hold_seconds=3.0,
                        long_hold_seconds=(8.0, 20.0), long_share=0.08, rollback_share=0.05)
FACT_SOURCE = {"fact_sales_order": "sales_order", "fact_purchase_order": "purchase_order",
               "fact_payment": "payment"}


@pytest.fixture
def soak_pipeline(pipeline):
    """The e2e pipeline with its cycle run at the deployed read window: (source, warehouse, cycle, zone)."""
    source, warehouse, run_workflow = pipeline
    written = run_workflow.written
    ingestion, processed = (written / "ingestion").as_uri(), (written / "processed").as_uri()
    ingest, transform, load = (_script(name)
                               for name in ("ingest_totesys", "transform_totesys", "load_warehouse"))
    enable = ["--job-bookmark-option", "job-bookmark-enable"]

    def cycle() -> dict:
        started = time.monotonic()
        ingested = ingest.main([
            "ingest", "--JOB_NAME", INGEST_JOB_NAME, "--ingestion-zone", ingestion,
            "--source-secret-id", SOURCE_SECRET_ID, "--catalog-database", "e2e_ingestion", *enable,
            "--read-lag-seconds", str(READ_LAG_SECONDS), "--overlap-seconds", str(OVERLAP_SECONDS),
            "--max-transaction-wait-seconds", str(MAX_TRANSACTION_WAIT_SECONDS)])
        ingest_finished = time.monotonic()
        transform.main(["transform", "--JOB_NAME", TRANSFORM_JOB_NAME, "--ingestion-zone", ingestion,
                        "--processed-zone", processed, "--catalog-database", "e2e_processed",
                        *PROCESSED_CATALOG_ARGS, *enable])
        loaded = load.main(["load", "--JOB_NAME", LOAD_JOB_NAME, "--processed-zone", processed,
                            "--warehouse-secret-id", WAREHOUSE_SECRET_ID, "--catalog-database", "e2e_processed",
                            *PROCESSED_CATALOG_ARGS, *enable])
        windows = {result.table: result.window.to_inclusive for result in ingested.tables}
        return {"started": started, "ingest_finished": ingest_finished, "seconds": time.monotonic() - started,
                "ingested_rows": ingested.total_rows, "payment_bound": windows[PAYMENT.name],
                "facts_inserted": sum(t.inserted for t in loaded.tables if t.table.startswith("fact_"))}

    return source, warehouse, cycle, ingestion


def test_randomised_concurrent_activity_is_loaded_exactly_once(soak_pipeline):
    source, warehouse, cycle, ingestion_zone = soak_pipeline
    seed = int(os.environ.get("TOTES_SOAK_SEED") or secrets.randbelow(2**31))
    replay = f"seed {seed} (replay: TOTES_SOAK_SEED={seed})"
    seeded = {fact: set(rows_of(source, statement, source_connect))
              for fact, statement in VERSIONS_IN_SOURCE.items()}
    writer = SoakWriter(source, seed, ACTIVITY)
    started = time.monotonic()
    cycles, failed = [], []

    def scheduled_run(into: list) -> None:
        # A run the database dropped (a server restart) fails and leaves the bookmarks; the next run recovers.
        try:
            into.append(cycle())
        except DATABASE_GONE as error:
            failed.append(f"{type(error).__name__}: {str(error)[:300]}")
            assert len(failed) <= MAX_FAILED_CYCLES, f"{replay}: cycles failed: {failed}"

    writer.start()
    try:
        # The first cycle is the full read, itself concurrent with the activity.
        while len(cycles) < CYCLES and (len(cycles) < MIN_CYCLES
                                        or time.monotonic() - started < ACTIVITY_SECONDS):
            scheduled_run(cycles)
            if cycles:
                writer.payable_before = cycles[-1]["payment_bound"]
    finally:
        writer.stop()
    activity_seconds = time.monotonic() - started
    last_stamp = writer.latest_committed_stamp
    assert last_stamp is not None, f"{replay}: the writer committed nothing"
    final_cycles = []
    # Everything committed is inside the read window once a bound reaches the last commit's stamp.
    for _ in range(FINAL_CYCLES):
        if final_cycles and final_cycles[-1]["payment_bound"] >= last_stamp:
            break
        time.sleep(READ_LAG_SECONDS)
        scheduled_run(final_cycles)
    assert final_cycles and final_cycles[-1]["payment_bound"] >= last_stamp, \
        f"{replay}: after {FINAL_CYCLES} final cycles the read bound has not reached {last_stamp}"

    expected = {fact: seeded[fact] | writer.committed_versions[FACT_SOURCE[fact]] for fact in FACT_SOURCE}
    ingested = _ingested_versions(ingestion_zone)
    loaded = {fact: rows_of(warehouse, f"SELECT {table}_id, last_updated_date + last_updated_time "
                                       f"FROM {fact}", warehouse_connect)
              for fact, table in FACT_SOURCE.items()}
    summary = _summary(writer, cycles, final_cycles, activity_seconds, loaded)
    summary["cycles_failed"] = failed
    _write_report(summary)
    print(json.dumps(summary))  # shown with -s; the same figures are in test-artifacts/soak.json
    context = f"{replay}; {json.dumps(summary)}"

    problems = [problem for fact, table in FACT_SOURCE.items()
                for problem in (_not_exactly_once(f"ingestion zone {table}", ingested[table], expected[fact]),
                                _not_exactly_once(f"warehouse {fact}", loaded[fact], expected[fact]))
                if problem]
    assert not problems, "; ".join(problems) + f"; {context}"
    # Dimensions, sums per currency; the versions again, now also against the source as it is.
    check_warehouse_against_source(source, warehouse, expected)
    # The soak did what it claims: transactions committed out of order and one was open across a whole read.
    assert summary["writer"]["late_commits"] > 0, context
    assert summary["transactions_open_across_an_ingestion"] > 0, context
    committed = summary["writer"]["versions_committed"]
    assert committed["payment"] > committed["transaction"], f"{context}: no payment was marked paid"


def _not_exactly_once(where: str, versions: list[tuple], expected: set[tuple]) -> str | None:
    """How the versions found (repeats kept) differ from the set expected once each; None: they do not."""
    counts: dict[tuple, int] = {}
    for version in versions:
        counts[version] = counts.get(version, 0) + 1
    lost = sorted(expected - counts.keys())
    extra = sorted(counts.keys() - expected)
    twice = sorted(version for version, count in counts.items() if count > 1)
    if not (lost or extra or twice):
        return None
    return (f"{where}: {len(lost)} versions lost {lost[:10]}, {len(extra)} never committed {extra[:10]}, "
            f"{len(twice)} more than once {twice[:10]}")


def _ingested_versions(ingestion_zone: str) -> dict[str, list[tuple]]:
    """Every (primary key, last_updated) in the files of the committed ingestion manifests, repeats kept."""
    zone = ZoneStore.for_uri(ingestion_zone)
    versions: dict[str, list[tuple]] = {table: [] for table in FACT_SOURCE.values()}
    for manifest in list_manifests(zone, INGEST_JOB_NAME):
        for table, output in manifest.tables.items():
            if table not in versions:
                continue
            key = source_table(table).primary_key
            for file_key in output.files:
                rows = pq.read_table(zone.uri_of(file_key), columns=[key, "last_updated"]).to_pylist()
                versions[table] += [(row[key], _naive_utc(row["last_updated"])) for row in rows]
    return versions


def _naive_utc(value):
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo is not None else value


def _summary(writer: SoakWriter, cycles: list[dict], final_cycles: list[dict], activity_seconds: float,
             loaded: dict[str, list]) -> dict:
    ingestions = [(c["started"], c["ingest_finished"]) for c in cycles]
    spanning = sum(
        any(t.opened_at < start and t.closed_at > end for start, end in ingestions)
        for t in writer.transactions
    )
    return {
        "cycles": len(cycles),
        "final_cycles": len(final_cycles),
        "activity_seconds": round(activity_seconds, 1),
        "cycle_seconds": [round(c["seconds"], 1) for c in cycles + final_cycles],
        "rows_ingested_per_cycle": [c["ingested_rows"] for c in cycles + final_cycles],
        "fact_versions_inserted_per_cycle": [c["facts_inserted"] for c in cycles + final_cycles],
        "transactions_open_across_an_ingestion": spanning,
        "writer": writer.summary(),
        "fact_versions_loaded": {fact: len(rows) for fact, rows in loaded.items()},
        "read_window": {"read_lag_seconds": READ_LAG_SECONDS, "overlap_seconds": OVERLAP_SECONDS,
                        "max_transaction_wait_seconds": MAX_TRANSACTION_WAIT_SECONDS},
    }


def _write_report(summary: dict) -> None:
    artifacts = REPO_DIR / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "soak.json").write_text(json.dumps(summary, indent=2))
