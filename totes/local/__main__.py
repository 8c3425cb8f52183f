"""Command line of the local runtime: ``python -m totes.local run | reset-bookmarks``.

``make run`` and ``make reset-bookmarks`` call this; the console gets short readable lines, and the JSON lines
CloudWatch would get go to ``.local/logs/pipeline.jsonl``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys

from totes import logs, settings
from totes.bookmarks import reset_bookmark
from totes.local.runner import RUNNER_LOG_NAME, WorkflowAlreadyRunningError, default_runner, ensure_log_file
from totes.local.spark import get_local_spark
from totes.local.summary import format_run_summary
from totes.zones import ZoneStore

logger = logging.getLogger("totes.local")


def _zones() -> list[ZoneStore]:
    return [ZoneStore.for_uri(settings.LOCAL_INGESTION_ZONE), ZoneStore.for_uri(settings.LOCAL_PROCESSED_ZONE)]


def command_run(_args) -> int:
    runner = default_runner()
    started_at = dt.datetime.now(dt.timezone.utc)
    spark = get_local_spark("totes-local-workflow")
    try:
        result = runner.run()
    except WorkflowAlreadyRunningError as error:
        logger.error(str(error))
        return 2
    finally:
        spark.stop()
    print(format_run_summary(result, _zones(), started_at))
    return 0 if result.succeeded else 1


def command_reset_bookmarks(args) -> int:
    job_names = [job.name for job in default_runner().workflow.jobs.values()] if args.all else [args.job]
    for job_name in job_names:
        existed = any([reset_bookmark(zone, job_name) for zone in _zones()])
        print(f"{job_name}: bookmark {'reset' if existed else 'was already empty'} (targets are not cleaned)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m totes.local", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run the workflow once on the local stack").set_defaults(func=command_run)
    reset = commands.add_parser("reset-bookmarks", help="forget job bookmarks; the next run reads everything")
    which = reset.add_mutually_exclusive_group(required=True)
    which.add_argument("--job", help="job name, e.g. totesys-ingest")
    which.add_argument("--all", action="store_true", help="every job of the workflow")
    reset.set_defaults(func=command_reset_bookmarks)
    args = parser.parse_args(argv)

    os.environ.setdefault(logs.CONSOLE_FORMAT_ENV, "text")
    ensure_log_file()
    logs.configure(job=RUNNER_LOG_NAME)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
