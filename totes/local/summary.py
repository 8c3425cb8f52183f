"""The human-readable summary printed at the end of ``make run``, built from the runs' committed manifests."""

from __future__ import annotations

import datetime as dt

from totes.local.job_states import FAILED, SUCCEEDED
from totes.local.runner import WorkflowRunResult
from totes.manifests import RunManifest, list_manifests
from totes.zones import ZoneStore


def manifests_of_run(result: WorkflowRunResult, zones: list[ZoneStore],
                     started_at: dt.datetime) -> dict[str, RunManifest]:
    """The manifest each successful job run committed, keyed by job run id."""
    # Run ids sort by time, so listing only the runs after the workflow started is a string comparison.
    after = started_at.strftime("%Y%m%dT%H%M%S")
    wanted = {run.Id for run in result.job_runs if run.JobRunState == SUCCEEDED}
    found = {}
    for zone in zones:
        for job_name in {run.JobName for run in result.job_runs}:
            for manifest in list_manifests(zone, job_name, after_run_id=after):
                if manifest.glue_job_run_id in wanted:
                    found[manifest.glue_job_run_id] = manifest
    return found


def _note(output) -> str:
    """What else a person wants to know about one table of one run."""
    details = output.details
    if output.window:
        return f"{output.window.get('from_exclusive') or '(start)'} .. {output.window.get('to_inclusive', '')}"
    notes = []
    if "total" in details:  # a warehouse load: what the merge did, and the table's size afterwards
        notes.append(f"{details['inserted']} inserted, {details['updated']} updated, "
                     f"{details['unchanged']} unchanged; {details['total']} in the warehouse")
    if details.get("quarantined"):
        notes.append(f"{details['quarantined']} quarantined ({', '.join(details.get('quarantine_rules', {}))})")
    if details.get("released"):
        notes.append(f"{details['released']} released from quarantine")
    if details.get("unknown_currency_codes"):
        notes.append(f"unknown currency codes {', '.join(details['unknown_currency_codes'])}")
    return "; ".join(notes)


def format_run_summary(result: WorkflowRunResult, zones: list[ZoneStore], started_at: dt.datetime) -> str:
    manifests = manifests_of_run(result, zones, started_at)
    lines = [f"\nWorkflow run {result.workflow_run_id}: {SUCCEEDED if result.succeeded else FAILED}"]
    for run in result.job_runs:
        lines.append(f"\n  {run.JobName} (attempt {run.Attempt + 1}): {run.JobRunState} in {run.ExecutionTime:.1f}s")
        if run.ErrorMessage:
            lines.append(f"    error: {run.ErrorMessage}")
        manifest = manifests.get(run.Id)
        if manifest is None:
            continue
        inputs = f", {len(manifest.inputs)} input run(s)" if manifest.inputs else ""
        lines.append(f"    manifest run id {manifest.run_id} ({manifest.bookmark_option}{inputs})")
        if not manifest.tables:
            lines.append("    nothing new since the last run")
            continue
        lines.append(f"    {'table':<20} {'rows':>10}  {'status':<10} notes")
        for name, output in manifest.tables.items():
            status = output.details.get("status", "")
            lines.append(f"    {name:<20} {output.rows:>10}  {status:<10} {_note(output)}".rstrip())
    return "\n".join(lines)
