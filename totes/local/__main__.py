"""Command line of the local runtime: ``python -m totes.local run | schedule | rewind | status | reset-bookmarks``.

``make run``, ``make schedule``, ``make rewind``, ``make status`` and ``make reset-bookmarks`` call this; the
console gets short readable lines, and the JSON lines CloudWatch would get go to ``.local/logs/pipeline.jsonl``.
Runs keep Spark event logs in ``.local/spark-events`` for the Spark history UI (``make spark-ui``), as Glue's
Spark UI does.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import logging
import os
import sys
from pathlib import Path

from totes import logs, settings
from totes.bookmarks import reset_bookmark
from totes.ingest.errors import RewindRefusedError
from totes.ingest.rewind import RewindRequest
from totes.local.runner import (
    LOCAL_STATE_DIR,
    RUNNER_LOG_NAME,
    LocalWorkflowRunner,
    StopRequest,
    WorkflowAlreadyRunningError,
    WorkflowRunResult,
    default_runner,
    ensure_log_file,
)
from totes.local.schedule import DEFAULT_INTERVAL_SECONDS, Schedule, between_runs, source_activity, table_maintenance
from totes.local.spark import get_local_spark
from totes.local.status import DEFAULT_LIMIT, workflow_status
from totes.local.summary import format_run_summary
from totes.local.workflow import Trigger, Workflow, load_workflow, local_workflow_variables
from totes.zones import ZoneStore

logger = logging.getLogger("totes.local")

SPARK_EVENT_LOG_ENV = "TOTES_SPARK_EVENT_LOG_DIR"
SPARK_EVENT_LOG_DIR = settings.LOCAL_DIR / "spark-events"


def _zones() -> list[ZoneStore]:
    return [ZoneStore.for_uri(uri) for uri in (settings.LOCAL_INGESTION_ZONE, settings.LOCAL_PROCESSED_ZONE)]


def _workflow() -> Workflow:
    return load_workflow(local_workflow_variables())


def _runner(stop: StopRequest, timeout_seconds: float | None = None) -> LocalWorkflowRunner:
    """The project's runner; each workflow run gets its own SparkSession, one Spark application in the UI."""
    os.environ.setdefault(SPARK_EVENT_LOG_ENV, str(SPARK_EVENT_LOG_DIR))
    runner = default_runner(stop=stop, timeout_seconds=timeout_seconds)

    @contextlib.contextmanager
    def spark_session(workflow_run_id: str):
        spark = get_local_spark(f"{runner.workflow.name} {workflow_run_id}")
        stop.install_signal_handlers()  # PySpark took SIGINT when its context started
        try:
            yield spark
        finally:
            spark.stop()

    runner.session = spark_session
    return runner


def _run_and_summarise(runner: LocalWorkflowRunner) -> WorkflowRunResult:
    started_at = dt.datetime.now(dt.timezone.utc)
    result = runner.run()
    print(format_run_summary(result, _zones(), started_at), flush=True)
    return result


def command_run(args) -> int:
    stop = StopRequest(finish_current_run=False)
    runner = _runner(stop, args.timeout_seconds)
    if args.reconcile_now:
        # As `aws glue start-job-run --arguments '{"--reconcile": "now"}'` does for one run on AWS.
        ingest = runner.workflow.jobs["ingest"]
        runner.workflow.jobs["ingest"] = dataclasses.replace(ingest, arguments={**ingest.arguments,
                                                                                "--reconcile": "now"})
    with stop.signals_handled():
        try:
            result = _run_and_summarise(runner)
        except WorkflowAlreadyRunningError as error:
            logger.error(str(error))
            return 2
    return 0 if result.succeeded else 1


def rewind_workflow(workflow: Workflow, job_name: str, table: str, from_text: str, to_text: str = "",
                    downstream: bool = True) -> Workflow:
    """The workflow run of ``make rewind``: the ingestion job with the rewind's arguments (what
    ``aws glue start-job-run --arguments`` gives it on AWS), then, with ``downstream``, the transformation and the
    load as after any ingestion run; they take the rewind's run as ordinary input.

    Refuses, before anything starts, a job that is not the ingestion job and a window no clock makes valid.
    """
    ingest = workflow.jobs["ingest"]
    if job_name != ingest.name:
        raise RewindRefusedError(f"rewind refused: only the ingestion job {ingest.name} rewinds, not {job_name!r}; "
                                 "the transformation and the load take its run as ordinary input")
    RewindRequest.parse(table, from_text, to_text)
    arguments = {**ingest.arguments, "--rewind-table": table, "--rewind-from": from_text}
    if to_text:
        arguments["--rewind-to"] = to_text
    # Someone is waiting for the answer: a refused or failed rewind is reported at once, not retried.
    jobs = {**workflow.jobs, "ingest": dataclasses.replace(ingest, arguments=arguments, max_retries=0)}
    start = Trigger(name="rewind", type="ON_DEMAND", actions=["ingest"])
    downstream_triggers = [trigger for trigger in workflow.triggers if trigger.type == "CONDITIONAL"]
    return dataclasses.replace(workflow, jobs=jobs, triggers=[start, *(downstream_triggers if downstream else [])])


def command_rewind(args) -> int:
    stop = StopRequest(finish_current_run=False)
    runner = _runner(stop)
    try:
        runner.workflow = rewind_workflow(runner.workflow, args.job or runner.workflow.jobs["ingest"].name,
                                          args.table, args.from_time, args.to_time or "", args.downstream)
    except RewindRefusedError as error:
        logger.error(str(error))
        return 2
    with stop.signals_handled():
        try:
            result = _run_and_summarise(runner)
        except WorkflowAlreadyRunningError as error:
            logger.error(f"rewind refused: {error}")
            return 2
    return 0 if result.succeeded else 1


def command_schedule(args) -> int:
    stop = StopRequest(finish_current_run=True)
    runner = _runner(stop, args.timeout_seconds)
    activity = None
    if args.simulate:
        from totes.secrets import LocalSecretProvider

        owner = LocalSecretProvider(settings.LOCAL_SECRETS_DIR).get_database_credentials(
            settings.SOURCE_OWNER_SECRET_ID)
        activity = source_activity(owner, args.seed)
    from totes.maintenance import load_maintenance
    from totes.maintenance import run as run_maintenance

    maintenance = load_maintenance()

    def maintain() -> None:
        run_maintenance(maintenance)
        stop.install_signal_handlers()  # as after the workflow's session: PySpark took SIGINT again

    between = between_runs(activity, table_maintenance(LOCAL_STATE_DIR, runner.workflow.name,
                                                       maintenance.policy.every_hours, maintain))
    schedule = Schedule(lambda: _run_and_summarise(runner), args.interval_seconds, args.cycles, stop,
                        between)
    with stop.signals_handled():
        outcome = schedule.run()
    return 0 if outcome.succeeded else 1


def command_status(args) -> int:
    print(workflow_status(_workflow(), LOCAL_STATE_DIR, limit=args.limit,
                          spark_event_log_dir=Path(os.environ.get(SPARK_EVENT_LOG_ENV, SPARK_EVENT_LOG_DIR))))
    return 0


def command_reset_bookmarks(args) -> int:
    job_names = [job.name for job in _workflow().jobs.values()] if args.all else [args.job]
    for job_name in job_names:
        existed = any([reset_bookmark(zone, job_name) for zone in _zones()])
        print(f"{job_name}: bookmark {'reset' if existed else 'was already empty'} (targets are not cleaned)")
    return 0


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m totes.local", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    timeout_help = "stop each job after this many seconds (TIMEOUT demos; default: its timeout_minutes)"
    run = commands.add_parser("run", help="run the workflow once on the local stack")
    run.add_argument("--timeout-seconds", type=_positive_float, help=timeout_help)
    run.add_argument("--reconcile-now", action="store_true",
                     help="the ingestion job reconciles with the source before its delta (README, Reconciliation)")
    run.set_defaults(func=command_run)

    schedule = commands.add_parser(
        "schedule", help="run the workflow on a schedule (default every 15 minutes, at :00/:15/:30/:45 UTC)")
    schedule.add_argument("--interval-seconds", type=_positive_float, default=DEFAULT_INTERVAL_SECONDS,
                          help="seconds between runs, on boundaries of the interval in UTC (default 900)")
    schedule.add_argument("--cycles", type=_positive_int,
                          help="stop after this many runs (default: until stopped)")
    schedule.add_argument("--simulate", action="store_true",
                          help="run the change simulator against the local source after each run")
    schedule.add_argument("--seed", type=int, help="first simulator seed (default: random)")
    schedule.add_argument("--timeout-seconds", type=_positive_float, help=timeout_help)
    schedule.set_defaults(func=command_schedule)

    rewind = commands.add_parser(
        "rewind", help="read one table's rows of a past window again, then transform and load (README, Rewind)")
    rewind.add_argument("--job", help="the ingestion job's name (default: the workflow's ingestion job)")
    rewind.add_argument("--table", required=True, help="the source table, e.g. payment")
    rewind.add_argument("--from", dest="from_time", required=True,
                        help="read rows with last_updated from this time, e.g. '2024-11-01 00:00' (source clock)")
    rewind.add_argument("--to", dest="to_time",
                        help="up to this time, inclusive (default: what the bookmark has ingested)")
    rewind.add_argument("--no-downstream", dest="downstream", action="store_false",
                        help="stop after the ingestion; the next workflow run transforms and loads it")
    rewind.set_defaults(func=command_rewind)

    status = commands.add_parser("status", help="recent job runs, the bookmarks and the data freshness")
    status.add_argument("--limit", type=_positive_int, default=DEFAULT_LIMIT, help="how many recent job runs")
    status.set_defaults(func=command_status)

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
