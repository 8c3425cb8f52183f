"""The states of a job run (Glue's JobRunState) and of a workflow run (WorkflowRunStatus), defined once.

The local runner records them as Glue does; the status report, the alerts, the rehearsal and the dashboard read
them from its records or from Glue's. workflow.json's trigger predicates name job states as data
(``"state": "SUCCEEDED"``), and loading the workflow refuses a state Glue does not have.
"""

from __future__ import annotations

RUNNING, SUCCEEDED, FAILED, TIMEOUT, STOPPED = "RUNNING", "SUCCEEDED", "FAILED", "TIMEOUT", "STOPPED"
ERROR = "ERROR"  # Glue could not start the run (a trigger naming a job that does not exist)
JOB_RUN_STATES = frozenset({"STARTING", RUNNING, "STOPPING", STOPPED, SUCCEEDED, FAILED, TIMEOUT, ERROR, "WAITING",
                            "EXPIRED"})
# The end states of a run that did not succeed: each one alerts.
FAILED_STATES = frozenset({FAILED, TIMEOUT, ERROR, STOPPED})

# WorkflowRunStatus: a run that ended is COMPLETED even when jobs failed, or STOPPED.
COMPLETED = "COMPLETED"
