"""The load script run by the local workflow runner, as Glue runs it, and what `make run` prints about it."""

from __future__ import annotations

import datetime as dt
import json

from totes.local.runner import LocalWorkflowRunner
from totes.local.summary import format_run_summary
from totes.local.workflow import load_workflow
from totes.settings import LOAD_JOB_NAME, WAREHOUSE_SECRET_ID

from tests.warehouse.conftest import FIRST, LOAD_SCRIPT, PROCESSED_CATALOG


def test_the_runner_runs_the_load_script_and_the_summary_shows_what_each_table_got(loading, tmp_path):
    loading.commit(FIRST)
    definition = {
        "name": "load-only",
        "jobs": {"load": {"name": LOAD_JOB_NAME, "script": str(LOAD_SCRIPT), "max_retries": 0, "arguments": {
            "--job-bookmark-option": "job-bookmark-enable", "--processed-zone": "${processed_zone_uri}",
            "--warehouse-secret-id": "${warehouse_secret_id}", "--processed-catalog": "${processed_catalog}"}}},
        "triggers": [{"name": "start", "type": "ON_DEMAND", "actions": [{"job": "load"}]}],
    }
    path = tmp_path / "workflow.json"
    path.write_text(json.dumps(definition))
    variables = {"processed_zone_uri": loading.zone.uri, "warehouse_secret_id": WAREHOUSE_SECRET_ID,
                 "processed_catalog": PROCESSED_CATALOG}
    workflow = load_workflow(variables, path)
    runner = LocalWorkflowRunner(workflow, state_dir=tmp_path / "state")

    summaries = []
    for _ in range(2):
        started_at = dt.datetime.now(dt.timezone.utc)
        result = runner.run()
        assert result.succeeded, result.job_runs[-1].ErrorMessage
        summaries.append(format_run_summary(result, [loading.zone], started_at))

    first, second = summaries
    assert "totesys-load (attempt 1): SUCCEEDED" in first
    assert "1 input run(s)" in first
    payment_line = next(line for line in first.splitlines() if line.strip().startswith("fact_payment"))
    assert payment_line.split()[1:3] == ["3", "written"]
    assert payment_line.endswith("3 inserted, 0 updated, 0 unchanged; 3 in the warehouse")
    assert "nothing new since the last run" in second
