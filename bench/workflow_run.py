"""One local workflow run in a fresh process, timed; or, with ``--bare``, a SparkSession started and stopped.

``python -m bench.workflow_run --state-dir DIR --ingestion-zone URI --processed-zone URI`` runs
``workflow/workflow.json`` with the local runner exactly as ``make run`` does (one SparkSession for the three
jobs, started and stopped around the run), with the bench's zones, secrets and catalog databases. It prints one
JSON line: the run's seconds from the call to the end of ``SparkSession.stop()``, the session's start and stop
seconds, and each job run's execution time and state.

``python -m bench.workflow_run --bare`` prints the same figures for a SparkSession started with the same settings
and stopped at once: the fixed cost every local run pays before and after any work.

With ``--warm-seed N`` the process then commits another small change (the change simulator with seed N), waits
out the read lag and runs the workflow again, then starts and stops a bare session again: as the second run of
``make schedule`` does, in the JVM the first run left warm (classes loaded, code compiled). The difference
between the two runs is the JVM's warm-up, which every fresh process (and every Glue job run) pays.
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


def commit_small_change(seed: int) -> int:
    """The bench's small delta (as bench.run commits it), on the source of this process's secrets; rows changed."""
    from totes.secrets import LocalSecretProvider
    from totes.settings import LOCAL_SECRETS_DIR, SOURCE_OWNER_SECRET_ID
    from totes.source.database import connect
    from totes.source.simulator import simulate

    owner = LocalSecretProvider(LOCAL_SECRETS_DIR).get_database_credentials(SOURCE_OWNER_SECRET_ID)
    with connect(owner) as conn:
        done = simulate(conn, seed=seed, new_sales_orders=5, new_purchase_orders=2, payments_to_mark_paid=5)
    return sum(done["inserted"].values()) + sum(done["updated"].values())


def workflow(state_dir: str, ingestion_zone: str, processed_zone: str, warm_seed: int | None = None) -> dict:
    from pathlib import Path

    from totes import settings
    from totes.local.runner import LocalWorkflowRunner
    from totes.local.spark import get_local_spark
    from totes.local.workflow import load_workflow

    variables = {
        "ingestion_zone_uri": ingestion_zone,
        "processed_zone_uri": processed_zone,
        "source_secret_id": settings.SOURCE_SECRET_ID,
        "warehouse_secret_id": settings.WAREHOUSE_SECRET_ID,
        "ingestion_database": "bench_ingestion",
        "processed_database": "bench_processed",
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

    figures = timed_run()
    figures["finished_at_epoch"] = time.time()  # the first run's end: the change is in the warehouse
    if warm_seed is not None:
        from totes.settings import DEFAULT_READ_LAG_SECONDS

        changed_rows = commit_small_change(warm_seed)
        time.sleep(DEFAULT_READ_LAG_SECONDS + 0.1)
        figures["warm"] = {"changed_rows": changed_rows, **timed_run(), "bare": bare()}
    return figures


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
