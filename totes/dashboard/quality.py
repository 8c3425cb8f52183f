"""The data-quality report on the pipeline health page: the latest report of each job that keeps one.

A transformation run's report (``totes.transform.quality_report``) travels in the local job run record
(``Quality``); Glue's job run history has none, so on AWS the page points at the CloudWatch metrics instead.
Which jobs keep a report, and the share above which a run alerts, come from their ``--max-quarantine-share`` in
``workflow/workflow.json``, as for the runner's alert and Terraform's alarm.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from totes import settings
from totes.dashboard.job_runs import JobRunRecord
from totes.local.job_states import SUCCEEDED
from totes.local.workflow import WORKFLOW_FILE, load_workflow, local_workflow_variables
from totes.transform.quality_report import (
    MAX_QUARANTINE_SHARE_ARGUMENT,
    QUALITY_DETAILS,
    RunQuality,
    max_quarantine_share,
)

REPORT_COLUMNS = ["table", "rule", "checked", "passed", "quarantined", "released", "examples"]


def quality_jobs(name_prefix: str = settings.LOCAL_NAME_PREFIX, path=WORKFLOW_FILE) -> dict[str, float]:
    """Job name -> the share above which its run alerts, for the jobs that keep a quality report."""
    workflow = load_workflow({**local_workflow_variables(), "name_prefix": name_prefix}, path)
    return {job.name: max_quarantine_share(job.arguments[MAX_QUARANTINE_SHARE_ARGUMENT])
            for job in workflow.jobs.values() if MAX_QUARANTINE_SHARE_ARGUMENT in job.arguments}


@dataclass(frozen=True)
class LatestReport:
    run: JobRunRecord
    quality: RunQuality
    max_share: float

    @property
    def exceeds(self) -> bool:
        return self.quality.exceeds(self.max_share)


def latest_report(runs: list[JobRunRecord], job_name: str, max_share: float) -> LatestReport | None:
    """The report of the job's newest SUCCEEDED run that has one (a run with nothing new has none)."""
    reported = [run for run in runs if run.job_name == job_name and run.state == SUCCEEDED and run.quality]
    if not reported:
        return None
    run = max(reported, key=lambda each: each.started_on or each.completed_on)
    quality = RunQuality.of_details({table: {QUALITY_DETAILS: report} for table, report in run.quality.items()})
    return LatestReport(run, quality, max_share)


def report_frame(quality: RunQuality) -> pd.DataFrame:
    """One row per table (rule empty), then one per rule that held or released rows, with its examples."""
    rows = []
    for table, report in quality.tables.items():
        rows.append({"table": table, "rule": "", "checked": report.checked, "passed": report.passed,
                     "quarantined": report.quarantined, "released": report.released, "examples": ""})
        rows += [{"table": table, "rule": rule, "checked": counts.checked, "passed": counts.passed,
                  "quarantined": counts.quarantined, "released": counts.released,
                  "examples": " | ".join(counts.examples)}
                 for rule, counts in report.rules.items() if counts.quarantined or counts.released]
    return pd.DataFrame(rows, columns=REPORT_COLUMNS)
