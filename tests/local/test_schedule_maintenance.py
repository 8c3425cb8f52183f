"""The local schedule's table maintenance (totes/local/schedule.py, table_maintenance): every ``every_hours``
between two workflow runs, never while another process holds the workflow, and a failure that the schedule
survives."""

from __future__ import annotations

import fcntl
import json
import logging

from totes.local.runner import lock_path
from totes.local.schedule import between_runs, table_maintenance

HOUR = 3600.0


class Clock:
    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_maintenance_runs_after_the_first_run_then_once_per_interval_across_schedule_restarts(tmp_path):
    clock, runs = Clock(), []
    activity = table_maintenance(tmp_path, "totesys-etl", 24, lambda: runs.append(clock.now), clock)

    activity(1)  # never maintained: now
    clock.now += 23 * HOUR
    activity(2)
    assert runs == [1_800_000_000.0]
    restarted = table_maintenance(tmp_path, "totesys-etl", 24, lambda: runs.append(clock.now), clock)
    clock.now += 1 * HOUR
    restarted(1)  # 24 h after the last one, though this schedule has just started
    assert runs == [1_800_000_000.0, 1_800_000_000.0 + 24 * HOUR]
    record = json.loads((tmp_path / "maintenance.json").read_text())
    assert record["finished_at_unix"] == runs[-1]


def test_maintenance_waits_while_another_process_holds_the_workflow(tmp_path):
    runs = []
    activity = table_maintenance(tmp_path, "totesys-etl", 24, lambda: runs.append(1), Clock())
    with open(lock_path(tmp_path, "totesys-etl"), "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # `make run` in another process
        activity(1)
    assert runs == [] and not (tmp_path / "maintenance.json").exists()
    activity(2)
    assert runs == [1]


def test_a_failed_maintenance_is_logged_and_retried_after_the_next_run(tmp_path, caplog, monkeypatch):
    # A job run earlier in the session configured the totes loggers not to propagate (logs.configure).
    monkeypatch.setattr(logging.getLogger("totes"), "propagate", True)
    attempts = []

    def maintain():
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("maintenance of totesys_processed.fact_payment failed: disk full")

    activity = between_runs(None, table_maintenance(tmp_path, "totesys-etl", 24, maintain, Clock()))
    activity(1)
    failure = next(record for record in caplog.records if "table maintenance failed" in record.getMessage())
    assert "fact_payment failed: disk full" in failure.fields["error"]
    assert not (tmp_path / "maintenance.json").exists()
    activity(2)
    assert len(attempts) == 2 and (tmp_path / "maintenance.json").exists()
