"""The freshness alarm of the local stack: the CloudWatch alarm's rule over the load's records, one e-mail per
change of state, evaluated by the runner after each workflow run."""

from __future__ import annotations

import datetime as dt
import email
import json

import pytest

from totes.freshness import ALARM, OK, FreshnessPromise
from totes.local.freshness_alarm import INSUFFICIENT_DATA, LocalFreshnessAlarm, freshness_definition
from totes.local.runner import LocalWorkflowRunner
from totes.local.workflow import load_workflow, local_workflow_variables

from tests.freshness_manifests import T0, Pipeline, minutes, utc
from tests.local.fake_jobs import APPEND_NAME, chain_workflow

PROMISE = FreshnessPromise(dt.timedelta(minutes=30))


@pytest.fixture
def pipeline(tmp_path):
    return Pipeline(tmp_path)


@pytest.fixture
def alarm(tmp_path, pipeline):
    return LocalFreshnessAlarm(pipeline.ledger, PROMISE, tmp_path / "state" / "freshness_alarm.json",
                               tmp_path / "mail", smtp_host="")


def mails(tmp_path) -> list[email.message.Message]:
    folder = tmp_path / "mail"
    paths = sorted(folder.glob("*.eml")) if folder.exists() else []
    return [email.message_from_bytes(path.read_bytes()) for path in paths]


def test_no_email_while_every_load_keeps_the_promise(tmp_path, pipeline, alarm):
    for n in range(3):
        pipeline.cycle(T0 + minutes(15 * n), T0 + minutes(15 * n + 2))
        assert alarm.evaluate(utc(T0 + minutes(15 * n + 3))).state == OK

    assert mails(tmp_path) == []
    assert alarm.state() == OK


def test_a_load_over_the_promise_sends_one_alarm_email(tmp_path, pipeline, alarm):
    pipeline.cycle(T0, T0 + minutes(2))
    alarm.evaluate(utc(T0 + minutes(3)))
    late = pipeline.cycle(T0 + minutes(30), T0 + minutes(34))

    assert alarm.evaluate(utc(T0 + minutes(35))).state == ALARM
    assert alarm.evaluate(utc(T0 + minutes(36))).state == ALARM  # still broken: no second e-mail

    [message] = mails(tmp_path)
    assert message["Subject"] == "[totesys] ALARM: warehouse freshness promise (30 min) broken"
    body = message.get_payload()
    assert late.load_run_id in body and "34 min 5 s" in body
    assert "make status" in body


def test_no_load_for_longer_than_the_promise_alarms_and_recovery_says_so(tmp_path, pipeline, alarm):
    pipeline.cycle(T0, T0 + minutes(2))
    assert alarm.evaluate(utc(T0 + minutes(20))).state == OK

    assert alarm.evaluate(utc(T0 + minutes(33))).state == ALARM  # the schedule stopped after 09:02
    pipeline.cycle(T0 + minutes(40), T0 + minutes(41))  # the first load after the gap is late itself
    assert alarm.evaluate(utc(T0 + minutes(42))).state == ALARM
    pipeline.cycle(T0 + minutes(55), T0 + minutes(56))
    assert alarm.evaluate(utc(T0 + minutes(72))).state == OK

    subjects = [message["Subject"] for message in mails(tmp_path)]
    assert subjects == ["[totesys] ALARM: warehouse freshness promise (30 min) broken",
                        "[totesys] OK: warehouse freshness promise (30 min) kept again"]
    assert "no load reported its lag within the last 30 min" in mails(tmp_path)[0].get_payload()


def test_the_first_load_gets_one_promise_long_period_before_its_absence_alarms(tmp_path, pipeline, alarm):
    assert alarm.evaluate(utc(T0)).state == INSUFFICIENT_DATA  # a first full load is running
    assert alarm.evaluate(utc(T0 + minutes(29))).state == INSUFFICIENT_DATA
    assert mails(tmp_path) == []

    assert alarm.evaluate(utc(T0 + minutes(31))).state == ALARM
    assert "none recorded yet" in mails(tmp_path)[0].get_payload()


def test_a_first_load_within_the_period_sends_nothing(tmp_path, pipeline, alarm):
    alarm.evaluate(utc(T0))
    pipeline.cycle(T0, T0 + minutes(3))

    assert alarm.evaluate(utc(T0 + minutes(4))).state == OK
    assert mails(tmp_path) == []


def test_a_restarted_runner_does_not_alarm_again_for_a_known_broken_promise(tmp_path, pipeline, alarm):
    pipeline.cycle(T0, T0 + minutes(2))
    alarm.evaluate(utc(T0 + minutes(40)))
    again = LocalFreshnessAlarm(pipeline.ledger, PROMISE, alarm.state_path, alarm.mail_dir, smtp_host="")

    assert again.evaluate(utc(T0 + minutes(41))).state == ALARM
    assert len(mails(tmp_path)) == 1
    assert json.loads(alarm.state_path.read_text())["state"] == ALARM


def test_the_runner_evaluates_the_rule_after_a_workflow_run(tmp_path, pipeline, alarm):
    """A workflow run whose load failed leaves the last record 38 min old: the runner alarms at its end."""
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    pipeline.cycle(now - minutes(40), now - minutes(38))
    workflow = chain_workflow(tmp_path, {"ingest": APPEND_NAME, "load": "raise RuntimeError('warehouse down')\n"})
    runner = LocalWorkflowRunner(workflow, tmp_path / "state", freshness_alarm=alarm)

    runner.run()

    assert alarm.state() == ALARM
    assert [message["Subject"].split(":")[0] for message in mails(tmp_path)] == ["[totesys] ALARM"]


def test_the_local_workflow_names_what_the_rule_reads():
    definition = freshness_definition()
    job = load_workflow(local_workflow_variables()).jobs[definition["measured_by"]]

    assert FreshnessPromise.from_definition(definition) == PROMISE
    assert {"--processed-zone", "--ingestion-zone", "--transform-job-name", "--ingest-job-name"} <= set(job.arguments)
