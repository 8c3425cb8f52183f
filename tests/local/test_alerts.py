"""Failed and timed-out jobs alert by email, decided by the one event pattern file the Terraform rule uses."""

from __future__ import annotations

import email
import email.policy
import json
import re
import threading
import uuid
import warnings

import pytest
from moto.events.models import EventPattern as MotoEventPattern

from totes.local.alerts import EventPattern, LocalEventBus, job_state_change_event
from totes.local.workflow import failure_event_pattern
from totes.local.runner import JobRun, LocalWorkflowRunner

from tests.local.fake_jobs import APPEND_NAME, FAIL, SLEEP_FOREVER, chain_workflow


def _job_run(state: str, job_name: str = "totesys-transform", error: str = "RuntimeError: boom") -> JobRun:
    return JobRun(Id="jr_" + "ab" * 16, JobName=job_name, Attempt=0,
                  StartedOn="2026-11-25T17:15:00.000+00:00", CompletedOn="2026-11-25T17:15:12.345+00:00",
                  JobRunState=state, ErrorMessage=None if state == "SUCCEEDED" else error, ExecutionTime=12.345,
                  WorkflowRunId="wr_" + "cd" * 16, TriggerName="transform-after-ingest")


def _bus(tmp_path) -> LocalEventBus:
    return LocalEventBus(tmp_path / "state" / "events.jsonl", tmp_path / "mail")


def _emails(tmp_path) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            for path in sorted((tmp_path / "mail").glob("*.eml"))]


def test_the_event_has_the_shape_eventbridge_delivers():
    event = job_state_change_event(_job_run("FAILED"), account="123456789012", region="eu-west-2")

    assert list(event) == ["version", "id", "detail-type", "source", "account", "time", "region", "resources",
                           "detail"]
    assert uuid.UUID(event.pop("id"))
    assert event == {
        "version": "0", "detail-type": "Glue Job State Change", "source": "aws.glue",
        "account": "123456789012", "time": "2026-11-25T17:15:12Z", "region": "eu-west-2", "resources": [],
        "detail": {"jobName": "totesys-transform", "severity": "ERROR", "state": "FAILED",
                   "jobRunId": "jr_" + "ab" * 16, "message": "RuntimeError: boom"},
    }
    succeeded = job_state_change_event(_job_run("SUCCEEDED"))["detail"]
    assert (succeeded["severity"], succeeded["message"]) == ("INFO", "Job run succeeded")


@pytest.mark.parametrize(("state", "job_name", "alerts"), [
    ("FAILED", "totesys-transform", True),
    ("TIMEOUT", "totesys-ingest", True),
    ("STOPPED", "totesys-load", True),
    ("SUCCEEDED", "totesys-load", False),
    ("FAILED", "other-team-job", False),
    # Another environment's job in the same account, whose name starts the same way.
    ("FAILED", "totesys-ingest-staging", False),
])
def test_the_pattern_file_decides_which_events_alert(state, job_name, alerts):
    event = job_state_change_event(_job_run(state, job_name))
    # The project's matcher and moto's EventBridge matcher (what put_events uses) agree on the pattern file.
    assert EventPattern.for_local_workflow().matches(event) is alerts
    local_jobs = ["totesys-ingest", "totesys-transform", "totesys-load"]
    assert MotoEventPattern.load(failure_event_pattern(local_jobs)).matches_event(event) is alerts


def test_an_event_from_another_source_does_not_alert():
    event = job_state_change_event(_job_run("FAILED"))
    event["source"] = "aws.states"
    assert not EventPattern.for_local_workflow().matches(event)


def test_a_failed_job_sends_an_email_with_what_happened_and_where_to_look(tmp_path):
    workflow = chain_workflow(tmp_path, {"ingest": APPEND_NAME, "transform": FAIL, "load": APPEND_NAME})
    runner = LocalWorkflowRunner(workflow, state_dir=tmp_path / "state", event_bus=_bus(tmp_path))
    result = runner.run()

    failed = result.job_runs[-1]
    (message,) = _emails(tmp_path)
    assert message["Subject"] == "[totesys] Glue job totesys-transform FAILED"
    assert message["X-Totes-Job-Run-Id"] == failed.Id
    assert message["To"] and message["From"] and message["Date"] and message["Message-ID"]
    body = message.get_content()
    prose = " ".join(body.split())
    for expected in ("job name       totesys-transform", f"job run id     {failed.Id}",
                     f"workflow run   wf, run {result.workflow_run_id}",
                     "state          FAILED (severity ERROR)",
                     "error          RuntimeError: boom", "started by     transform-after-ingest",
                     f"grep {failed.Id} ", "make status", "make spark-ui"):
        assert expected in body, expected
    assert "a failed run does not move the job's bookmark" in prose
    # The event itself closes the mail, as the SNS email of the EventBridge rule carries it.
    event = json.loads(body[body.index("{"):])
    assert event["detail"] == {"jobName": "totesys-transform", "severity": "ERROR", "state": "FAILED",
                               "jobRunId": failed.Id, "message": "RuntimeError: boom"}
    # Every state change is on the bus, the SUCCEEDED one of the first job too; only the failure alerted.
    published = [json.loads(line)["detail"]["state"]
                 for line in (tmp_path / "state" / "events.jsonl").read_text().splitlines()]
    assert published == ["SUCCEEDED", "FAILED"]


def test_a_timed_out_job_sends_a_timeout_email(tmp_path):
    workflow = chain_workflow(tmp_path, {"ingest": SLEEP_FOREVER, "transform": APPEND_NAME}, max_retries=1)
    runner = LocalWorkflowRunner(workflow, state_dir=tmp_path / "state", event_bus=_bus(tmp_path),
                                 timeout_seconds=0.2)
    (timed_out,) = runner.run().job_runs

    (message,) = _emails(tmp_path)
    assert message["Subject"] == "[totesys] Glue job totesys-ingest TIMEOUT"
    body = message.get_content()
    assert "state          TIMEOUT (severity ERROR)" in body
    assert f"job run id     {timed_out.Id}" in body
    assert "error          Job run timed out after 0.2 s" in body
    assert "A TIMEOUT is not retried" in " ".join(body.split())
    assert re.search(r"\d{8}T\d{6}Z-totesys-ingest-TIMEOUT-jr_[0-9a-f]{32}\.eml",
                     next((tmp_path / "mail").iterdir()).name)


def test_a_successful_run_sends_no_email(tmp_path):
    workflow = chain_workflow(tmp_path, {"ingest": APPEND_NAME, "transform": APPEND_NAME})
    result = LocalWorkflowRunner(workflow, state_dir=tmp_path / "state", event_bus=_bus(tmp_path)).run()

    assert result.succeeded
    assert not (tmp_path / "mail").exists() or not list((tmp_path / "mail").iterdir())
    assert len((tmp_path / "state" / "events.jsonl").read_text().splitlines()) == 2


def test_the_alert_also_goes_to_an_smtp_sink_when_one_is_configured(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import asyncore  # smtpd's event loop; both ship with Python 3.11 (deprecated, gone in 3.12)
        import smtpd

    received = []

    class Sink(smtpd.SMTPServer):
        def process_message(self, peer, mailfrom, rcpttos, data, **kwargs):
            received.append(data)

    sink = Sink(("127.0.0.1", 0), None)
    serving = threading.Event()
    serving.set()

    def serve():
        while serving.is_set():
            asyncore.loop(timeout=0.05, count=1)

    loop = threading.Thread(target=serve, daemon=True)
    loop.start()
    try:
        bus = LocalEventBus(tmp_path / "events.jsonl", tmp_path / "mail", smtp_host="127.0.0.1",
                            smtp_port=sink.socket.getsockname()[1])
        path = bus.publish_job_run(_job_run("FAILED"), workflow_name="totesys-etl")
    finally:
        serving.clear()
        loop.join(5)
        sink.close()

    (data,) = received
    sent = email.message_from_bytes(data, policy=email.policy.default)
    saved = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert sent["Subject"] == "[totesys] Glue job totesys-transform FAILED"
    assert sent.get_content().rstrip() == saved.get_content().rstrip()  # SMTP DATA drops the last newline


def test_an_unreachable_smtp_sink_does_not_lose_the_alert(tmp_path):
    bus = LocalEventBus(tmp_path / "events.jsonl", tmp_path / "mail", smtp_host="127.0.0.1", smtp_port=1)
    path = bus.publish_job_run(_job_run("TIMEOUT"))
    assert path.exists()


def test_a_long_multi_line_error_is_kept_whole_and_stays_mailable(tmp_path):
    error = "Py4JJavaError: An error occurred while calling o123.save.\n" + "\n".join(
        f"\tat org.apache.spark.Frame{index}(Frame.java:{index})" for index in range(200)) + "\n" + "x" * 2000
    path = _bus(tmp_path).publish_job_run(_job_run("FAILED", error=error))

    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    body = message.get_content()
    assert "error          Py4JJavaError: An error occurred while calling o123.save." in body
    assert "The whole error message:" in body and "Frame199(Frame.java:199)" in body and "x" * 2000 in body
    assert max(len(line) for line in path.read_bytes().splitlines()) <= 998


# A transformation job as far as the runner sees it: commits a manifest whose fact carries a quality report of
# 100 new rows, --held of them quarantined for a missing parent.
QUALITY_MANIFEST = """
import sys
from totes.manifests import RunManifest, TableOutput, new_run_id, write_manifest
from totes.transform.quality_report import RuleGroup, table_quality
from totes.zones import ZoneStore
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
held = int(args["--held"])
report = table_quality(("missing_value", "missing_parent"), [
    RuleGroup(None, None, 100 - held), RuleGroup("missing_parent", None, held, ("sales_order_id 7: design_id 99 has no design row",))])
tables = {"fact_sales_order": TableOutput("fact_sales_order", 100 - held, details={"quality": report.as_dict()})}
write_manifest(ZoneStore.for_uri(args["--processed-zone"]), RunManifest(
    job_name=args["--JOB_NAME"], run_id=new_run_id(), started_at="", finished_at="",
    bookmark_option="job-bookmark-enable", glue_job_run_id=args["--JOB_RUN_ID"], tables=tables, inputs=[]))
"""


def _run_transform(tmp_path, held: int, **arguments: str):
    tmp_path.mkdir(exist_ok=True)
    workflow = chain_workflow(tmp_path, {"transform": QUALITY_MANIFEST},
                              arguments={"--processed-zone": str(tmp_path / "zone"), "--held": str(held),
                                         **arguments})
    return LocalWorkflowRunner(workflow, state_dir=tmp_path / "state", event_bus=_bus(tmp_path)).run()


def test_a_run_quarantining_more_than_its_share_alerts_with_its_report(tmp_path):
    result = _run_transform(tmp_path, held=6, **{"--max-quarantine-share": "0.05"})

    (run,) = result.job_runs
    assert run.Quality["fact_sales_order"]["new_quarantined"] == 6
    (message,) = _emails(tmp_path)
    assert message["Subject"] == "[totesys] totesys-transform: 6.0% of new rows quarantined (max 5.0%)"
    body = message.get_content()
    assert "held back 6 of the 100 new rows it judged (6.0%)" in body
    assert "missing_parent: 6 quarantined, e.g.\n      sales_order_id 7: design_id 99 has no design row" in body
    assert re.fullmatch(r"\d{8}T\d{6}Z-totesys-transform-QUARANTINE-jr_[0-9a-f]{32}\.eml",
                        next((tmp_path / "mail").iterdir()).name)


def test_a_run_at_or_below_its_share_or_without_one_sends_no_quarantine_alert(tmp_path):
    _run_transform(tmp_path / "at", held=5, **{"--max-quarantine-share": "0.05"})
    _run_transform(tmp_path / "unset", held=50)

    assert _emails(tmp_path / "at") == [] and _emails(tmp_path / "unset") == []
