"""One local workflow run in a fresh process, timed; or, with ``--bare``, a SparkSession started and stopped.

``python -m bench.workflow_run --state-dir DIR --ingestion-zone URI --processed-zone URI`` runs
``workflow/workflow.json`` with the local runner exactly as ``make run`` does (one SparkSession for the three
jobs, started and stopped around the run), with the bench's zones, secrets and catalog databases. It prints one
JSON line: the run's seconds from the call to the end of ``SparkSession.stop()``, the session's start and stop
seconds, and each job run's execution time and state.

``python -m bench.workflow_run --bare`` prints the same figures for a SparkSession started with the same settings
and stopped at once: the fixed cost every local run pays before and after any work.
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


def workflow(state_dir: str, ingestion_zone: str, processed_zone: str) -> dict:
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
    started = time.monotonic()
    result = runner.run()
    seconds = round(time.monotonic() - started, 3)
    return {"seconds": seconds, **timings, "succeeded": result.succeeded,
            "jobs": [{"job": run.JobName, "state": run.JobRunState, "seconds": run.ExecutionTime,
                      "rows_out": run.RowsOut, "error": run.ErrorMessage} for run in result.job_runs]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.workflow_run")
    parser.add_argument("--bare", action="store_true")
    parser.add_argument("--state-dir")
    parser.add_argument("--ingestion-zone")
    parser.add_argument("--processed-zone")
    args = parser.parse_args(argv)
    result = bare() if args.bare else workflow(args.state_dir, args.ingestion_zone, args.processed_zone)
    sys.stdout.write(json.dumps(result, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
