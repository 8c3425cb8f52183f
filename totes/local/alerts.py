"""Job state change events and failure alerts: the local stand-in for Glue → EventBridge → SNS email.

On AWS, Glue publishes a "Glue Job State Change" event whenever a job run ends (SUCCEEDED, FAILED, TIMEOUT,
STOPPED); the EventBridge rule Terraform builds from ``workflow/job_failure_event_pattern.json`` (filled with the
names of the environment's jobs) sends the matching ones to an SNS topic with an email subscription. Locally, for every job run that ends, the runner
calls :meth:`LocalEventBus.publish_job_run`, which

1. builds the event exactly as EventBridge delivers it (:func:`job_state_change_event`),
2. appends it to ``.local/state/events.jsonl`` (every event, matched or not: the bus's archive),
3. matches it against the same pattern file with EventBridge's matching rules, and
4. delivers a match as an email: an RFC 5322 message saved as ``.local/mail/<time>-<job>-<state>-<run>.eml``
   (any mail client opens it), and sent over SMTP too when ``TOTES_SMTP_HOST`` is set (``TOTES_SMTP_PORT``,
   default 1025: a local sink such as Mailpit or ``python -m smtpd -n -c DebuggingServer localhost:1025``).

Why moto's matcher: EventBridge's ``TestEventPattern`` API cannot run here and moto's API stub does not answer
it, but moto's ``EventPattern`` implements the pattern language (exact values, prefix, suffix, anything-but,
numeric, exists, $or) that its ``put_events`` uses; writing a second matcher would test nothing.

Quarantine share: a transformation run that held back more than its job's ``--max-quarantine-share`` of its new
rows (``totes.transform.quality_report``) alerts too, from :meth:`LocalEventBus.publish_quality`, which the
runner calls for every job run that ends; on AWS the CloudWatch alarm on the job's share metric does this
(monitoring.tf). Each such run sends one e-mail, with the run's report (rules, counts, example reasons).

Severity: Glue's events carry INFO for SUCCEEDED and ERROR for FAILED (captured events); TIMEOUT is a failure
and gets ERROR, STOPPED gets WARN (not documented; no rule here matches on severity).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import smtplib
import textwrap
import uuid
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING

from totes import settings
from totes.local.job_states import ERROR, FAILED, STOPPED, SUCCEEDED, TIMEOUT
from totes.local.workflow import EVENT_PATTERN_FILE, failure_event_pattern, load_workflow, local_workflow_variables
from totes.logs import log_event
from totes.transform.quality_report import (
    MAX_QUARANTINE_SHARE_ARGUMENT,
    RunQuality,
    format_share,
    max_quarantine_share,
)

if TYPE_CHECKING:
    from totes.local.runner import JobRun

logger = logging.getLogger("totes.local")

DETAIL_TYPE = "Glue Job State Change"
SOURCE = "aws.glue"
SEVERITY = {SUCCEEDED: "INFO", FAILED: "ERROR", TIMEOUT: "ERROR", ERROR: "ERROR", STOPPED: "WARN"}
# What the local "account" and "region" of the events are; on AWS they are the deployment's.
ACCOUNT_ENV, REGION_ENV = "TOTES_AWS_ACCOUNT_ID", "AWS_REGION"  # AWS_DEFAULT_REGION is read as well
DEFAULT_ACCOUNT, DEFAULT_REGION = "000000000000", "eu-west-2"
SMTP_HOST_ENV, SMTP_PORT_ENV = "TOTES_SMTP_HOST", "TOTES_SMTP_PORT"
ALERT_TO_ENV = "TOTES_ALERT_EMAIL"
DEFAULT_SENDER = "totesys alerts <totesys-alerts@localhost>"
DEFAULT_RECIPIENT = "data-team@localhost"
SPARK_UI_URL = f"http://localhost:{os.environ.get('SPARK_UI_PORT', '18080')}"


def _event_time(iso_timestamp: str | None) -> str:
    moment = dt.datetime.fromisoformat(iso_timestamp) if iso_timestamp else dt.datetime.now(dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _event_message(job_run: JobRun) -> str:
    if job_run.JobRunState == SUCCEEDED:
        return "Job run succeeded"
    return job_run.ErrorMessage or f"Job run {job_run.JobRunState.lower()}"


def job_state_change_event(job_run: JobRun, account: str | None = None, region: str | None = None,
                           event_id: str | None = None) -> dict:
    """The "Glue Job State Change" event of a job run that ended, as EventBridge delivers it to targets."""
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": SOURCE,
        "account": account or os.environ.get(ACCOUNT_ENV, DEFAULT_ACCOUNT),
        "time": _event_time(job_run.CompletedOn),
        "region": region or os.environ.get(REGION_ENV, os.environ.get("AWS_DEFAULT_REGION", DEFAULT_REGION)),
        "resources": [],
        "detail": {
            "jobName": job_run.JobName,
            "severity": SEVERITY.get(job_run.JobRunState, "INFO"),
            "state": job_run.JobRunState,
            "jobRunId": job_run.Id,
            "message": _event_message(job_run),
        },
    }


class EventPattern:
    """An EventBridge event pattern (the JSON Terraform puts on the rule), matched by EventBridge's rules."""

    def __init__(self, text: str):
        from moto.events.models import EventPattern as _MotoEventPattern

        self.text = text
        self._pattern = _MotoEventPattern.load(text)

    @classmethod
    def for_jobs(cls, job_names: list[str], path: Path = EVENT_PATTERN_FILE) -> "EventPattern":
        """The rule Terraform creates for these jobs, from the shared pattern file."""
        return cls(failure_event_pattern(job_names, path))

    @classmethod
    def for_local_workflow(cls) -> "EventPattern":
        return cls.for_jobs([job.name for job in load_workflow(local_workflow_variables()).jobs.values()])

    def matches(self, event: dict) -> bool:
        return bool(self._pattern.matches_event(event))


_HINTS = {
    FAILED: [
        "The error above is what the script raised. The job's log lines show the step it was in (table, "
        "query, file); fix the cause, then the next run (schedule or `make run`) picks the same data up "
        "again: a failed run does not move the job's bookmark.",
        "A failed run is retried max_retries times (workflow/workflow.json); each retry is its own job run "
        "(<first run id>_attempt_<n>) and alerts on its own.",
    ],
    TIMEOUT: [
        "The run took longer than its timeout (timeout_minutes in workflow/workflow.json) and was stopped: "
        "its Spark jobs were cancelled and nothing after it in the workflow ran. A TIMEOUT is not retried.",
        "In the Spark UI, the last stage of the run shows where the time went; a lock or a long transaction "
        "in a database shows in pg_stat_activity. The bookmark did not move: the next run re-reads the same "
        "data.",
    ],
    STOPPED: [
        "The run was stopped on request (Ctrl-C or SIGTERM to the local runner); nothing after it ran. The "
        "bookmark did not move: the next run re-reads the same data.",
    ],
    ERROR: ["The workflow tried to start a job that does not exist; check workflow/workflow.json."],
}


def _log_file() -> str:
    return os.environ.get("TOTES_LOG_FILE", str(settings.LOCAL_DIR / "logs" / "pipeline.jsonl"))


def alert_email(event: dict, job_run: JobRun, workflow_name: str | None = None,
                sender: str = DEFAULT_SENDER, recipient: str | None = None) -> EmailMessage:
    """The alert for one matched event: what happened, to which run, and where to look first."""
    detail = event["detail"]
    state, job_name, job_run_id = detail["state"], detail["jobName"], detail["jobRunId"]
    message = EmailMessage()
    message["Subject"] = f"[totesys] Glue job {job_name} {state}"
    message["From"] = sender
    message["To"] = recipient or os.environ.get(ALERT_TO_ENV, DEFAULT_RECIPIENT)
    message["Date"] = format_datetime(dt.datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ")
                                      .replace(tzinfo=dt.timezone.utc))
    message["Message-ID"] = make_msgid(domain="totesys.local")
    message["X-Totes-Job-Run-Id"] = job_run_id
    workflow = str(job_run.WorkflowRunId)
    if workflow_name:
        workflow = f"{workflow_name}, run {workflow}"
    retry_of = f" (retry of {job_run.PreviousRunId})" if job_run.PreviousRunId else ""
    facts = [
        ("job name", job_name),
        ("job run id", job_run_id),
        ("attempt", f"{job_run.Attempt + 1}{retry_of}"),
        ("workflow run", workflow),
        ("started by", job_run.TriggerName or "-"),
        ("state", f"{state} (severity {detail['severity']})"),
        ("started", job_run.StartedOn),
        ("ended", f"{job_run.CompletedOn} (after {job_run.ExecutionTime:.1f} s)"),
        ("error", detail["message"].strip().splitlines()[0] if detail["message"].strip() else "-"),
    ]
    lines = [f"Glue job {job_name} ended in state {state}.", ""]
    lines += [f"  {label:<14} {value}" for label, value in facts]
    if len(detail["message"].strip().splitlines()) > 1:  # e.g. a Spark error with its Java stack trace
        lines += ["", "The whole error message:", textwrap.indent(detail["message"].strip(), "    ")]
    lines += ["", "What to look at:"]
    lines += [_bullet(hint) for hint in _HINTS.get(state, [])]
    lines += [
        _bullet("The run's log lines (JSON, one event per line):"), f"      grep {job_run_id} {_log_file()}",
        _bullet("Recent runs, their states and durations, the bookmarks and the data freshness:"),
        "      make status",
        _bullet(f"The Spark UI: application \"{workflow_name or 'workflow'} {job_run.WorkflowRunId}\", "
                f"job group {job_run_id}:"),
        f"      make spark-ui, then open {SPARK_UI_URL}",
    ]
    lines += ["", "The event, as EventBridge delivered it to the alert rule:", json.dumps(event, indent=2)]
    text = "\n".join(lines) + "\n"
    # 8bit keeps the .eml readable as plain text; a line past SMTP's 998-character limit needs an encoding.
    message.set_content(text, cte="8bit" if max(map(len, text.splitlines())) <= 998 else "quoted-printable")
    return message


def _bullet(text: str) -> str:
    return textwrap.fill(text, width=100, initial_indent="  - ", subsequent_indent="    ",
                         break_long_words=False, break_on_hyphens=False)


def _safe(text: str) -> str:
    return "".join(char if char.isalnum() or char in "-_." else "_" for char in text)


def save_email(message: EmailMessage, mail_dir: Path, event: dict) -> Path:
    """Write the message as ``<time>-<job>-<state>-<run id>.eml``; the name sorts by time."""
    mail_dir.mkdir(parents=True, exist_ok=True)
    detail = event["detail"]
    stamp = event["time"].replace("-", "").replace(":", "")
    path = mail_dir / _safe(f"{stamp}-{detail['jobName']}-{detail['state']}-{detail['jobRunId']}.eml")
    path.write_bytes(message.as_bytes())
    return path


class LocalEventBus:
    """The default event bus with the one alert rule: every job state change in, failure emails out."""

    def __init__(self, events_log: Path, mail_dir: Path, pattern: EventPattern | None = None,
                 smtp_host: str | None = None, smtp_port: int | None = None):
        self.events_log = events_log
        self.mail_dir = mail_dir
        self.pattern = pattern or EventPattern.for_local_workflow()
        self.smtp_host = smtp_host if smtp_host is not None else os.environ.get(SMTP_HOST_ENV)
        self.smtp_port = smtp_port or int(os.environ.get(SMTP_PORT_ENV, "1025"))

    def publish_job_run(self, job_run: JobRun, workflow_name: str | None = None) -> Path | None:
        """Publish the job run's state change; returns the alert's .eml file if the rule matched."""
        event = job_state_change_event(job_run)
        self.events_log.parent.mkdir(parents=True, exist_ok=True)
        with self.events_log.open("a") as handle:
            handle.write(json.dumps(event) + "\n")
        if not self.pattern.matches(event):
            return None
        message = alert_email(event, job_run, workflow_name)
        path = save_email(message, self.mail_dir, event)
        log_event(logger, f"alert email written to {path}", logging.WARNING, job_name=job_run.JobName,
                  job_run_id=job_run.Id, status=job_run.JobRunState, file=str(path))
        if self.smtp_host:
            send_email(message, self.smtp_host, self.smtp_port)
        return path


    def publish_quality(self, job_run: JobRun, arguments: dict[str, str]) -> Path | None:
        """Alert when the run's quarantine share is above its job's ``--max-quarantine-share``; returns the
        .eml file, or None (the job has no such argument, or its run kept below the share)."""
        if MAX_QUARANTINE_SHARE_ARGUMENT not in arguments or not job_run.Quality:
            return None
        max_share = max_quarantine_share(arguments[MAX_QUARANTINE_SHARE_ARGUMENT])
        quality = RunQuality.of_details({table: {"quality": report} for table, report in job_run.Quality.items()})
        if not quality.exceeds(max_share):
            return None
        message = quarantine_alert_email(job_run, quality, max_share)
        self.mail_dir.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.fromisoformat(job_run.CompletedOn or job_run.StartedOn).strftime("%Y%m%dT%H%M%SZ")
        path = self.mail_dir / _safe(f"{stamp}-{job_run.JobName}-QUARANTINE-{job_run.Id}.eml")
        path.write_bytes(message.as_bytes())
        log_event(logger, f"quarantine alert written to {path}", logging.WARNING, job_name=job_run.JobName,
                  job_run_id=job_run.Id, quarantine_share=round(quality.share, 4), max_quarantine_share=max_share,
                  file=str(path))
        if self.smtp_host:
            send_email(message, self.smtp_host, self.smtp_port)
        return path


def send_email(message: EmailMessage, smtp_host: str, smtp_port: int) -> None:
    """Send an alert whose .eml is written already to the SMTP sink."""
    try:
        with smtplib.SMTP(smtp_host, smtp_port, timeout=10) as smtp:
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        # The .eml is written already; an unreachable mail sink must not change the pipeline's outcome.
        log_event(logger, "alert not sent over SMTP (the .eml file has it)", logging.WARNING,
                  smtp=f"{smtp_host}:{smtp_port}", error=f"{type(error).__name__}: {error}")


def quarantine_alert_email(job_run: JobRun, quality: RunQuality, max_share: float,
                           recipient: str | None = None) -> EmailMessage:
    """The alert of a run whose quarantine share is above the configured one: the share, and per table and
    rule what was held back, with example reasons."""
    message = EmailMessage()
    # Short enough for one header line: a folded Subject reads back with a leading space.
    message["Subject"] = (f"[totesys] {job_run.JobName}: {format_share(quality.share)} of new rows quarantined "
                          f"(max {format_share(max_share)})")
    message["From"] = DEFAULT_SENDER
    message["To"] = recipient or os.environ.get(ALERT_TO_ENV, DEFAULT_RECIPIENT)
    message["Date"] = format_datetime(dt.datetime.fromisoformat(job_run.CompletedOn or job_run.StartedOn))
    message["Message-ID"] = make_msgid(domain="totesys.local")
    message["X-Totes-Job-Run-Id"] = job_run.Id
    lines = [f"Job run {job_run.Id} of {job_run.JobName} held back {quality.new_quarantined:,} of the "
             f"{quality.new_checked:,} new rows it judged ({format_share(quality.share)}); the configured "
             f"share is {format_share(max_share)} ({MAX_QUARANTINE_SHARE_ARGUMENT}, workflow/workflow.json).", ""]
    for table, report in quality.tables.items():
        lines.append(f"  {table}: {report.checked:,} checked, {report.passed:,} passed, "
                     f"{report.quarantined:,} quarantined, {report.released:,} released")
        for rule, counts in report.rules.items():
            if counts.quarantined:
                lines.append(f"    {rule}: {counts.quarantined:,} quarantined, e.g.")
                lines += [f"      {example}" for example in counts.examples]
    lines += ["", "What to look at:",
              _bullet("The held rows, with rule and reason, are in the processed zone's quarantine/<table> "
                      "folder of the run; every run judges them again, and a row whose problem is fixed in the "
                      "source (or whose parent arrives) is released into the facts."),
              _bullet("Many rows held by one rule at once is usually a source or contract change, not a typo: "
                      "missing_parent for a lookup table that was not ingested, unknown_currency for a new code."),
              _bullet("The report of every run:"), "      make status"]
    message.set_content("\n".join(lines) + "\n", cte="8bit")
    return message


def default_event_bus(local_dir: Path = settings.LOCAL_DIR) -> LocalEventBus:
    return LocalEventBus(local_dir / "state" / "events.jsonl", local_dir / "mail")
