"""The workflow definition (workflow/workflow.json), read by the local runner; Terraform reads the same file."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from totes import settings
from totes.local.job_states import JOB_RUN_STATES
from totes.settings import REPO_DIR

WORKFLOW_FILE = REPO_DIR / "workflow" / "workflow.json"
EVENT_PATTERN_FILE = REPO_DIR / "workflow" / "job_failure_event_pattern.json"
_PLACEHOLDER = re.compile(r"\$\{([a-z_]+)\}")


@dataclass(frozen=True)
class JobDefinition:
    key: str
    name: str
    script: Path
    max_retries: int
    timeout_minutes: int
    arguments: dict[str, str]


@dataclass(frozen=True)
class Trigger:
    name: str
    type: str
    actions: list[str]
    schedule: str | None = None
    logical: str = "AND"
    conditions: list[tuple[str, str]] = field(default_factory=list)  # (job key, state)


@dataclass(frozen=True)
class Workflow:
    name: str
    max_concurrent_runs: int
    jobs: dict[str, JobDefinition]
    triggers: list[Trigger]

    @property
    def start_trigger(self) -> Trigger:
        starts = [trigger for trigger in self.triggers if trigger.type in ("SCHEDULED", "ON_DEMAND")]
        if len(starts) != 1:
            raise ValueError(f"workflow {self.name} needs exactly one SCHEDULED or ON_DEMAND trigger, found {len(starts)}")
        return starts[0]


def render(text: str, variables: dict[str, str]) -> str:
    """Fill ``${name}`` placeholders as Terraform's templatefile would; an unknown name is an error."""

    def substitute(match: re.Match) -> str:
        name = match.group(1)
        if name not in variables:
            raise KeyError(f"workflow placeholder ${{{name}}} has no value; known: {', '.join(sorted(variables))}")
        return variables[name]

    return _PLACEHOLDER.sub(substitute, text)


def local_workflow_variables() -> dict[str, str]:
    """Values of the workflow placeholders on the local stack (Terraform fills the same names on AWS)."""
    return {
        "name_prefix": settings.LOCAL_NAME_PREFIX,
        "ingestion_zone_uri": settings.LOCAL_INGESTION_ZONE,
        "processed_zone_uri": settings.LOCAL_PROCESSED_ZONE,
        "source_secret_id": settings.SOURCE_SECRET_ID,
        "warehouse_secret_id": settings.WAREHOUSE_SECRET_ID,
        "ingestion_database": settings.INGESTION_DATABASE,
        "processed_database": settings.PROCESSED_DATABASE,
        "processed_catalog": f"jdbc:{settings.PROCESSED_CATALOG_SECRET_ID}",
    }


def failure_event_pattern(job_names: list[str], path: Path = EVENT_PATTERN_FILE) -> str:
    """The EventBridge pattern of the failure alerts for exactly these jobs, as Terraform renders it: by exact
    name, so that no other environment's or team's job (a longer name with the same prefix) alerts here."""
    return render(path.read_text(), {"job_names": json.dumps(sorted(job_names))})


def load_workflow(variables: dict[str, str], path: Path = WORKFLOW_FILE) -> Workflow:
    data = json.loads(render(path.read_text(), variables))
    jobs = {
        key: JobDefinition(
            key=key,
            name=job["name"],
            script=REPO_DIR / job["script"],
            max_retries=int(job.get("max_retries", 0)),
            timeout_minutes=int(job.get("timeout_minutes", 2880)),
            arguments=dict(job.get("arguments", {})),
        )
        for key, job in data["jobs"].items()
    }
    triggers = []
    for trigger in data["triggers"]:
        predicate = trigger.get("predicate", {})
        triggers.append(
            Trigger(
                name=trigger["name"],
                type=trigger["type"],
                actions=[action["job"] for action in trigger["actions"]],
                schedule=trigger.get("schedule"),
                logical=predicate.get("logical", "AND"),
                conditions=[(c["job"], c["state"]) for c in predicate.get("conditions", [])],
            )
        )
    for trigger in triggers:
        for job_key in trigger.actions + [job for job, _ in trigger.conditions]:
            if job_key not in jobs:
                raise ValueError(f"trigger {trigger.name} refers to unknown job {job_key!r}")
        for job_key, state in trigger.conditions:
            if state not in JOB_RUN_STATES:
                raise ValueError(f"trigger {trigger.name} waits for {job_key} to reach {state!r}, which is not a "
                                 f"Glue job run state ({', '.join(sorted(JOB_RUN_STATES))})")
    return Workflow(data["name"], int(data.get("max_concurrent_runs", 1)), jobs, triggers)
