"""The freshness alarm on the local stack: the rule of the CloudWatch alarm (monitoring.tf), run by the runner.

On AWS the load job publishes its lag and a CloudWatch alarm, evaluated outside the pipeline, alarms on a lag
over the promise or on no datapoint for a promise-long period. Locally the load job keeps the same record
(``totes.freshness``), and the runner evaluates the same rule (:func:`totes.freshness.judge`) after every
workflow run and, while a job runs, once a minute (a job that hangs breaks the promise before its timeout).
There is no evaluator outside the runner: while no runner runs (the schedule was stopped), ``make status``
shows the broken promise, and the runner alarms at its next evaluation.

Like the alarm's ``alarm_actions`` and ``ok_actions``, a change of state (OK to ALARM, ALARM to OK) sends one
e-mail: an RFC 5322 ``.eml`` in ``.local/mail`` and, when ``TOTES_SMTP_HOST`` is set, over SMTP
(``totes.local.alerts``). The state is kept in ``.local/state/freshness_alarm.json``, so a restarted runner does
not alarm again for a promise already known broken. Before the first load ever recorded, the alarm waits one
promise-long period from its first evaluation (``INSUFFICIENT_DATA``), so the first full load is no alert; on
AWS the alarm fires after the first deploy instead, until the schedule runs (README, "Freshness").
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from totes import settings
from totes.freshness import ALARM, OK, FreshnessLedger, FreshnessPromise, FreshnessVerdict, LoadFreshness, judge
from totes.local.alerts import ALERT_TO_ENV, DEFAULT_RECIPIENT, DEFAULT_SENDER, SMTP_HOST_ENV, SMTP_PORT_ENV, send_email
from totes.local.workflow import WORKFLOW_FILE, Workflow, load_workflow, local_workflow_variables, render
from totes.logs import log_event

logger = logging.getLogger("totes.local")

STATE_FILE_NAME = "freshness_alarm.json"
INSUFFICIENT_DATA = "INSUFFICIENT_DATA"


def freshness_definition(variables: dict[str, str] | None = None, path: Path = WORKFLOW_FILE) -> dict:
    """The ``freshness`` block of the workflow definition, as Terraform reads it."""
    return json.loads(render(path.read_text(), variables or local_workflow_variables()))["freshness"]


def workflow_ledger(workflow: Workflow, definition: dict) -> FreshnessLedger:
    """The records of the job that measures the freshness, in the zones its arguments name."""
    job = workflow.jobs[definition["measured_by"]]
    return FreshnessLedger.for_load_arguments(job.name, job.arguments)


def _format_lag(lag: dt.timedelta | None) -> str:
    if lag is None:
        return "-"
    minutes, seconds = divmod(int(round(lag.total_seconds())), 60)
    return f"{minutes} min {seconds} s"


def _utc(moment: dt.datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC" if moment is not None else "-"


def alarm_email(verdict: FreshnessVerdict, promise: FreshnessPromise, now: dt.datetime,
                recipient: str | None = None) -> EmailMessage:
    """The e-mail of a change of the alarm's state: what the promise is, what broke it, where to look."""
    broken = verdict.state == ALARM
    message = EmailMessage()
    message["Subject"] = (f"[totesys] {verdict.state}: warehouse freshness promise ({promise.describe()}) "
                          + ("broken" if broken else "kept again"))
    message["From"] = DEFAULT_SENDER
    message["To"] = recipient or os.environ.get(ALERT_TO_ENV, DEFAULT_RECIPIENT)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain="totesys.local")
    latest: LoadFreshness | None = verdict.latest
    lines = [
        f"The freshness promise (a change committed in the source is visible in the warehouse within "
        f"{promise.describe()}) is {'BROKEN' if broken else 'kept again'}: {verdict.reason}.",
        "",
        f"  {'evaluated at':<24} {_utc(now)}",
        f"  {'last load':<24} {latest.load_run_id if latest else 'none recorded'}",
        f"  {'  committed':<24} {_utc(latest.loaded_at) if latest else '-'}",
        f"  {'  visible through':<24} {_utc(latest.visible_through) if latest else '-'}",
        f"  {'  lag':<24} {_format_lag(latest.lag) if latest else '-'}"
        + (f" (read {_format_lag(latest.behind_source)} behind the source, committed "
           f"{_format_lag(latest.age)} after the read)" if latest and latest.age is not None else ""),
    ]
    if broken:
        lines += [
            "",
            "What to look at:",
            "  - make status: the recent runs (a failure or a TIMEOUT stops the chain before the load), the",
            "    bookmarks, and the lag of the recent loads against the promise.",
            "  - A lag over the promise with runs that succeed: the schedule's interval plus the runs' duration",
            "    exceed it, or an open source transaction held the read back (the ingestion logs",
            "    \"old open transaction not waited for\").",
            "  - No load at all: is `make schedule` running? A job that hangs is stopped at its timeout",
            "    (timeout_minutes in workflow/workflow.json).",
        ]
    text = "\n".join(lines) + "\n"
    message.set_content(text, cte="8bit")
    return message


class LocalFreshnessAlarm:
    """The freshness rule over the load's records, with the alarm's state and its e-mails."""

    def __init__(self, ledger: FreshnessLedger, promise: FreshnessPromise, state_path: Path, mail_dir: Path,
                 smtp_host: str | None = None, smtp_port: int | None = None):
        self.ledger = ledger
        self.promise = promise
        self.state_path = state_path
        self.mail_dir = mail_dir
        self.smtp_host = smtp_host if smtp_host is not None else os.environ.get(SMTP_HOST_ENV)
        self.smtp_port = smtp_port or int(os.environ.get(SMTP_PORT_ENV, "1025"))
        self._lock = threading.Lock()  # the runner's wait loop and its end of run may evaluate at once

    def _saved(self) -> dict:
        return json.loads(self.state_path.read_text()) if self.state_path.exists() else {}

    def state(self) -> str | None:
        return self._saved().get("state")

    def evaluate(self, now: dt.datetime | None = None) -> FreshnessVerdict:
        """Apply the rule now; on a change of state, keep the new one and send its e-mail."""
        now = now or dt.datetime.now(dt.timezone.utc)
        with self._lock:
            saved = self._saved()
            watching_since = dt.datetime.fromisoformat(saved.get("watching_since", now.isoformat()))
            verdict = judge(self.ledger.records(), now, self.promise)
            if verdict.latest is None and now - watching_since < self.promise.max_lag:
                # A new alarm gives the pipeline one promise-long period for its first load: a first full load
                # that takes a few minutes is no alert.
                verdict = FreshnessVerdict(INSUFFICIENT_DATA, f"waiting for the first load (watching since "
                                                              f"{watching_since:%Y-%m-%d %H:%M:%S} UTC)", None, None)
            previous = saved.get("state")
            if verdict.state == previous:
                return verdict
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
            self.state_path.write_text(json.dumps({"state": verdict.state, "since": now.isoformat(),
                                                   "reason": verdict.reason,
                                                   "watching_since": watching_since.isoformat()}, indent=2))
            # Only a broken promise and its recovery are news: the alarm starts out OK or waiting.
            if verdict.state == INSUFFICIENT_DATA or (verdict.state == OK and previous in (None, INSUFFICIENT_DATA)):
                return verdict
            path = self._mail(alarm_email(verdict, self.promise, now), now, verdict.state)
            level = logging.WARNING if verdict.state == ALARM else logging.INFO
            log_event(logger, f"freshness alarm {verdict.state}: {verdict.reason}", level, file=str(path))
            return verdict

    def _mail(self, message: EmailMessage, now: dt.datetime, state: str) -> Path:
        self.mail_dir.mkdir(parents=True, exist_ok=True)
        path = self.mail_dir / f"{now:%Y%m%dT%H%M%SZ}-freshness-promise-{state}.eml"
        path.write_bytes(message.as_bytes())
        if self.smtp_host:
            send_email(message, self.smtp_host, self.smtp_port)
        return path


def default_freshness_alarm(local_dir: Path = settings.LOCAL_DIR) -> LocalFreshnessAlarm:
    """The alarm of the project's workflow on the local stack."""
    definition = freshness_definition()
    ledger = workflow_ledger(load_workflow(local_workflow_variables()), definition)
    return LocalFreshnessAlarm(ledger, FreshnessPromise.from_definition(definition),
                               local_dir / "state" / STATE_FILE_NAME, local_dir / "mail")
