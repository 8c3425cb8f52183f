"""One local workflow run in a fresh process, timed; or, with ``--bare``, a SparkSession started and stopped.

``python -m bench.workflow_run --state-dir DIR --ingestion-zone URI --processed-zone URI`` runs
``workflow/workflow.json`` with the local runner exactly as ``make run`` does (one SparkSession for the three
jobs, started and stopped around the run), with the bench's zones, secrets and catalog databases. It prints one
JSON line: the run's seconds from the call to the end of ``SparkSession.stop()``, the session's start and stop
seconds, and each job run's execution time and state.

``python -m bench.workflow_run --bare`` prints the same figures for a SparkSession started with the same settings
and stopped at once: the fixed cost every local run pays before and after any work.

``python -m bench.workflow_run --warm-seed N ...`` measures a run in a warm JVM instead, as the second run of
``make schedule`` is: it commits a small change of its own (the change simulator, seed N) and runs the workflow
once to warm the JVM up (classes loaded, hot code compiled), then commits another (seed N + 1), runs the
workflow again with a new SparkSession and prints that run's figures, whether its change reached the warehouse,
and a bare session started and stopped in the same warm JVM.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time


def bare() -> dict:
    from totes.local.spark import get_local_spark

    started = time.monotonic()
    spark = get_local_spark("bench-bare")
    ready = time.monotonic()
    spark.stop()
    stopped = time.monotonic()
    return {"seconds": round(stopped - started, 3), "session_start_seconds": round(ready - started, 3),
            "session_stop_seconds": round(stopped - ready, 3)}


def commit_small_change(seed: int) -> tuple[int, list[int]]:
    """The bench's small delta (as bench.run commits it) on the source of this process's secrets: the rows
    changed and the new sales order ids."""
    from totes.secrets import LocalSecretProvider
    from totes.settings import LOCAL_SECRETS_DIR, SOURCE_OWNER_SECRET_ID
    from totes.source.database import connect
    from totes.source.simulator import simulate

    owner = LocalSecretProvider(LOCAL_SECRETS_DIR).get_database_credentials(SOURCE_OWNER_SECRET_ID)
    with connect(owner) as conn:
        done = simulate(conn, seed=seed, new_sales_orders=5, new_purchase_orders=2, payments_to_mark_paid=5)
    return sum(done["inserted"].values()) + sum(done["updated"].values()), done["inserted_ids"]["sales_order"]


def sales_orders_in_warehouse(sales_order_ids: list[int]) -> int:
    from totes.secrets import LocalSecretProvider
    from totes.settings import LOCAL_SECRETS_DIR, WAREHOUSE_SECRET_ID
    from totes.warehouse.database import connect

    warehouse = LocalSecretProvider(LOCAL_SECRETS_DIR).get_database_credentials(WAREHOUSE_SECRET_ID)
    with connect(warehouse) as conn:
        return conn.execute("SELECT count(DISTINCT sales_order_id) FROM fact_sales_order "
                            "WHERE sales_order_id = ANY(%s)", (sales_order_ids,)).fetchone()[0]


def workflow(state_dir: str, ingestion_zone: str, processed_zone: str, warm_seed: int | None = None) -> dict:
    from pathlib import Path

    from totes import settings
    from totes.local.runner import LocalWorkflowRunner
    from totes.local.spark import get_local_spark
    from totes.local.workflow import load_workflow

    variables = {
        "name_prefix": settings.LOCAL_NAME_PREFIX,
        "ingestion_zone_uri": ingestion_zone,
        "processed_zone_uri": processed_zone,
        "source_secret_id": settings.SOURCE_SECRET_ID,
        "warehouse_secret_id": settings.WAREHOUSE_SECRET_ID,
        "ingestion_database": "bench_ingestion",
        "processed_database": "bench_processed",
        "processed_catalog": f"jdbc:{settings.PROCESSED_CATALOG_SECRET_ID}",
    }
    timings = {}

    @contextlib.contextmanager
    def session(workflow_run_id: str):
        started = time.monotonic()
        spark = get_local_spark(f"bench {workflow_run_id}")
        timings["session_start_seconds"] = round(time.monotonic() - started, 3)
        try:
            yield spark
        finally:
            stopping = time.monotonic()
            spark.stop()
            timings["session_stop_seconds"] = round(time.monotonic() - stopping, 3)

    runner = LocalWorkflowRunner(load_workflow(variables), state_dir=Path(state_dir), session=session)

    def timed_run() -> dict:
        started = time.monotonic()
        result = runner.run()
        seconds = round(time.monotonic() - started, 3)
        return {"seconds": seconds, **timings, "succeeded": result.succeeded,
                "jobs": [{"job": run.JobName, "state": run.JobRunState, "seconds": run.ExecutionTime,
                          "rows_out": run.RowsOut, "error": run.ErrorMessage} for run in result.job_runs]}

    if warm_seed is None:
        return timed_run()
    from totes.settings import DEFAULT_READ_LAG_SECONDS

    commit_small_change(warm_seed)
    time.sleep(DEFAULT_READ_LAG_SECONDS + 0.1)
    warm_up = timed_run()
    changed_rows, sales_order_ids = commit_small_change(warm_seed + 1)
    time.sleep(DEFAULT_READ_LAG_SECONDS + 0.1)
    warm = timed_run()
    return {**warm, "changed_rows": changed_rows,
            "change_visible": sales_orders_in_warehouse(sales_order_ids) == len(sales_order_ids),
            "warm_up_run_seconds": warm_up["seconds"], "bare": bare()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.workflow_run")
    parser.add_argument("--bare", action="store_true")
    parser.add_argument("--state-dir")
    parser.add_argument("--ingestion-zone")
    parser.add_argument("--processed-zone")
    parser.add_argument("--warm-seed", type=int)
    args = parser.parse_args(argv)
    result = bare() if args.bare else workflow(args.state_dir, args.ingestion_zone, args.processed_zone,
                                               args.warm_seed)
    sys.stdout.write(json.dumps(result, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
