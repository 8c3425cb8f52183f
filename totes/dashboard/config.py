"""The dashboard's settings, from environment variables (``python -m totes.dashboard`` sets them).

The warehouse credentials come through the same secret mechanism as the jobs (:mod:`totes.secrets`): a JSON
file under ``TOTES_LOCAL_SECRETS_DIR`` on the local stack, Secrets Manager otherwise. Only the read-only
role's secret is ever asked for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from totes import settings
from totes.secrets import LOCAL_SECRETS_DIR_ENV

SECRET_ID_ENV = "TOTES_DASHBOARD_SECRET_ID"
REFRESH_SECONDS_ENV = "TOTES_DASHBOARD_REFRESH_SECONDS"
JOB_RUNS_ENV = "TOTES_DASHBOARD_JOB_RUNS"  # "glue", "local" or the path of a job_runs.jsonl
# On AWS, whose jobs: <project>-<environment> (terraform output glue_job_names shows it), e.g. totesys-dev.
NAME_PREFIX_ENV = "TOTES_NAME_PREFIX"
# On AWS, the CloudWatch namespace of the jobs' metrics: <project>/<environment>, e.g. totesys/dev.
METRIC_NAMESPACE_ENV = "TOTES_METRIC_NAMESPACE"

DEFAULT_REFRESH_SECONDS = 60.0
# Below this the page would spend its time re-querying; tests use 2 s.
MIN_REFRESH_SECONDS = 1.0
LOCAL_JOB_RUNS_FILE = settings.LOCAL_DIR / "state" / "job_runs.jsonl"


class DashboardConfigError(ValueError):
    """A dashboard setting is invalid; the message names the variable and the value."""


@dataclass(frozen=True)
class DashboardConfig:
    secret_id: str = settings.WAREHOUSE_READONLY_SECRET_ID
    refresh_seconds: float = DEFAULT_REFRESH_SECONDS
    job_runs: str = "local"  # "glue" or the path of the local job run log
    name_prefix: str = settings.LOCAL_NAME_PREFIX
    metric_namespace: str | None = None  # where the freshness lag is on AWS; None: the page cannot show it there

    @property
    def load_job_name(self) -> str:
        from totes.dashboard.job_runs import workflow_job_names

        return workflow_job_names(self.name_prefix)["load"]

    @property
    def job_runs_from_glue(self) -> bool:
        return self.job_runs == "glue"

    @property
    def cache_seconds(self) -> float:
        """How long one warehouse snapshot serves every open page: half a refresh, so each tick is fresh."""
        return max(MIN_REFRESH_SECONDS / 2, self.refresh_seconds / 2)

    @classmethod
    def from_env(cls, environ: dict | None = None) -> "DashboardConfig":
        env = os.environ if environ is None else environ
        raw_refresh = env.get(REFRESH_SECONDS_ENV, str(DEFAULT_REFRESH_SECONDS))
        try:
            refresh = float(raw_refresh)
        except ValueError:
            raise DashboardConfigError(
                f"{REFRESH_SECONDS_ENV}={raw_refresh!r} is not a number of seconds"
            ) from None
        if refresh < MIN_REFRESH_SECONDS:
            raise DashboardConfigError(
                f"{REFRESH_SECONDS_ENV}={raw_refresh!r}: at least {MIN_REFRESH_SECONDS:g} s"
            )
        # The local stack (secrets in files) keeps its job runs in a file; anywhere else Glue holds them.
        job_runs = env.get(JOB_RUNS_ENV) or ("local" if env.get(LOCAL_SECRETS_DIR_ENV) else "glue")
        if job_runs == "local":
            job_runs = str(LOCAL_JOB_RUNS_FILE)
        return cls(
            secret_id=env.get(SECRET_ID_ENV) or settings.WAREHOUSE_READONLY_SECRET_ID,
            refresh_seconds=refresh,
            job_runs=job_runs if job_runs == "glue" else str(Path(job_runs)),
            name_prefix=env.get(NAME_PREFIX_ENV) or settings.LOCAL_NAME_PREFIX,
            metric_namespace=env.get(METRIC_NAMESPACE_ENV) or None,
        )
