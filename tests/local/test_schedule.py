"""Schedule mode: runs on the interval's boundaries, activity between runs, clean stops."""

from __future__ import annotations

import datetime as dt
import signal
import threading
import time

import pytest

from totes.local.alerts import LocalEventBus
from totes.local.runner import LocalWorkflowRunner, StopRequest, workflow_is_running
from totes.local.schedule import Schedule, next_boundary, source_activity

from tests.local.fake_jobs import APPEND_NAME, SLEEP_FOREVER, chain_workflow, out_lines


def _utc(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


def test_the_default_interval_starts_runs_when_the_15_minute_cron_fires():
    at = dt.datetime(2026, 11, 25, 12, 7, 31, tzinfo=dt.timezone.utc).timestamp()
    on_the_quarter = dt.datetime(2026, 11, 25, 12, 15, tzinfo=dt.timezone.utc).timestamp()

    assert next_boundary(at, 900) == on_the_quarter  # cron(0/15 * * * ? *): minutes 0, 15, 30, 45 UTC
    assert next_boundary(on_the_quarter, 900) == on_the_quarter + 900  # strictly after: never twice in a slot
    assert next_boundary(at, 1) == at + 1


def test_three_short_cycles_run_with_activity_between_them_and_end_cleanly(tmp_path):
    workflow = chain_workflow(tmp_path, {"ingest": APPEND_NAME, "load": APPEND_NAME})
    runner = LocalWorkflowRunner(workflow, state_dir=tmp_path / "state")
    activity = []

    started = time.monotonic()
    outcome = Schedule(runner.run, interval_seconds=1, cycles=3, activity=activity.append).run()

    assert time.monotonic() - started < 5
    assert [result.succeeded for result in outcome.results] == [True, True, True]
    assert activity == [1, 2]  # between the runs, not after the last
    assert out_lines(tmp_path) == ["totesys-ingest", "totesys-load"] * 3
    starts = [_utc(run.StartedOn) for run in runner.workflow_run_log.runs()]
    assert all(start % 1 < 0.25 for start in starts[1:])  # on the boundaries of the 1 s interval
    assert not outcome.stopped and not workflow_is_running(tmp_path / "state", workflow.name)


def test_a_stop_request_during_the_wait_ends_the_schedule_at_once(tmp_path):
    workflow = chain_workflow(tmp_path, {"ingest": APPEND_NAME})
    runner = LocalWorkflowRunner(workflow, state_dir=tmp_path / "state")
    stop = StopRequest(finish_current_run=True)

    started = time.monotonic()
    outcome = Schedule(runner.run, interval_seconds=60, stop=stop,
                       activity=lambda cycle: threading.Timer(0.2, stop.request).start()).run()

    assert time.monotonic() - started < 5  # the minute's wait was abandoned
    assert len(outcome.results) == 1 and outcome.stopped
    assert [run.JobRunState for run in runner.job_run_log.runs()] == ["SUCCEEDED"]


SIGTERM_SELF = "import os, signal, time\nos.kill(os.getpid(), signal.SIGTERM)\ntime.sleep(0.3)\n"


def test_sigterm_during_a_run_lets_that_run_finish_and_starts_no_other(tmp_path):
    workflow = chain_workflow(tmp_path, {"ingest": SIGTERM_SELF + APPEND_NAME, "load": APPEND_NAME})
    stop = StopRequest(finish_current_run=True)
    runner = LocalWorkflowRunner(workflow, state_dir=tmp_path / "state", stop=stop)

    with stop.signals_handled():
        outcome = Schedule(runner.run, interval_seconds=1, stop=stop).run()

    assert outcome.stopped and len(outcome.results) == 1
    assert outcome.results[0].succeeded  # the run went on to its end
    assert out_lines(tmp_path) == ["totesys-ingest", "totesys-load"]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored


def test_a_second_signal_stops_the_running_job_recorded_as_stopped_with_an_alert(tmp_path):
    twice = ("import os, signal, time\nos.kill(os.getpid(), signal.SIGTERM)\ntime.sleep(0.2)\n"
             "os.kill(os.getpid(), signal.SIGINT)\n")
    workflow = chain_workflow(tmp_path, {"ingest": twice + SLEEP_FOREVER, "load": APPEND_NAME})
    stop = StopRequest(finish_current_run=True)
    runner = LocalWorkflowRunner(workflow, state_dir=tmp_path / "state", stop=stop,
                                 event_bus=LocalEventBus(tmp_path / "events.jsonl", tmp_path / "mail"))

    with stop.signals_handled():
        outcome = Schedule(runner.run, interval_seconds=1, stop=stop).run()

    (result,) = outcome.results
    assert [run.JobRunState for run in result.job_runs] == ["STOPPED"]
    assert [run.JobRunState for run in runner.job_run_log.runs()] == ["STOPPED"]  # recorded, not left RUNNING
    assert out_lines(tmp_path) == []
    assert [path.name.split("-")[3] for path in (tmp_path / "mail").iterdir()] == ["STOPPED"]


def test_activity_is_the_change_simulator_on_the_source(tmp_path, empty_source_db):
    from psycopg.conninfo import make_conninfo

    from totes.source.database import connect
    from totes.source.generator import generate

    owner, _ = empty_source_db
    with connect(owner) as conn:
        generate(conn, 0.002, 1)
    count_orders = (
        "import sys, psycopg\n"
        "dsn = sys.argv[sys.argv.index('--dsn') + 1]\n"
        "with psycopg.connect(dsn) as conn:\n"
        "    rows = conn.execute('SELECT count(*) FROM sales_order').fetchone()[0]\n"
        "open(sys.argv[sys.argv.index('--out') + 1], 'a').write(f'{rows}\\n')\n"
    )
    workflow = chain_workflow(tmp_path, {"ingest": count_orders},
                              arguments={"--dsn": make_conninfo(**owner.libpq_kwargs())})
    runner = LocalWorkflowRunner(workflow, state_dir=tmp_path / "state")

    Schedule(runner.run, interval_seconds=1, cycles=3, activity=source_activity(owner, seed=7)).run()

    first, second, third = (int(line) for line in out_lines(tmp_path))
    assert (second - first, third - second) == (20, 20)  # the simulator's default batch of sales orders


@pytest.mark.parametrize(("interval", "cycles"), [(0, None), (1, 0)])
def test_a_schedule_needs_a_positive_interval_and_cycles(interval, cycles):
    with pytest.raises(ValueError):
        Schedule(lambda: None, interval_seconds=interval, cycles=cycles)


def test_signal_handlers_are_only_installed_from_the_main_thread():
    stop = StopRequest()
    thread = threading.Thread(target=stop.install_signal_handlers)
    thread.start()
    thread.join()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_cycle_finding_the_workflow_running_elsewhere_is_refused_and_the_schedule_goes_on(tmp_path):
    import fcntl

    from totes.local.runner import lock_path

    workflow = chain_workflow(tmp_path, {"ingest": APPEND_NAME})
    runner = LocalWorkflowRunner(workflow, state_dir=tmp_path / "state")
    (tmp_path / "state").mkdir()
    other_run = open(lock_path(tmp_path / "state", workflow.name), "w")  # e.g. a `make run` meanwhile
    fcntl.flock(other_run, fcntl.LOCK_EX | fcntl.LOCK_NB)

    outcome = Schedule(runner.run, interval_seconds=1, cycles=2, activity=lambda cycle: other_run.close()).run()

    assert outcome.refused == 1
    assert [result.succeeded for result in outcome.results] == [True]
    assert out_lines(tmp_path) == ["totesys-ingest"]
