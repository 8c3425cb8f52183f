"""``python -m totes.dashboard``: serve the dashboard with Streamlit (``make dashboard``).

    python -m totes.dashboard            # http://127.0.0.1:8501, the local warehouse (make sets the secrets)
    python -m totes.dashboard --port 8600 --address 0.0.0.0 --refresh-seconds 30
    # RDS and Glue (AWS credentials in the environment, TOTES_LOCAL_SECRETS_DIR unset):
    python -m totes.dashboard --secret-id totesys-prod/warehouse-readonly --job-runs glue

Where the credentials come from follows the jobs' rule (:func:`totes.secrets.default_secret_provider`): files
under ``TOTES_LOCAL_SECRETS_DIR`` when it is set, Secrets Manager otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from totes import logs
from totes.dashboard.config import (
    JOB_RUNS_ENV,
    REFRESH_SECONDS_ENV,
    SECRET_ID_ENV,
    DashboardConfig,
    DashboardConfigError,
)

APP = Path(__file__).with_name("app.py")


def streamlit_args(port: int, address: str) -> list[str]:
    """``streamlit run`` with the settings of a served dashboard: no browser, no telemetry, no file watching,
    no developer menu, and no stack traces in the page (the app shows its own messages; details go to the
    log)."""
    return [
        "run",
        str(APP),
        "--server.port",
        str(port),
        "--server.address",
        address,
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "viewer",
        "--client.showErrorDetails",
        "none",
        "--global.developmentMode",
        "false",
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m totes.dashboard", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument(
        "--address",
        default="127.0.0.1",
        help="interface to listen on (default: this machine only; 0.0.0.0 serves the network)",
    )
    parser.add_argument(
        "--secret-id",
        help=f"the read-only warehouse secret (default: {SECRET_ID_ENV} or {DashboardConfig.secret_id})",
    )
    parser.add_argument(
        "--refresh-seconds",
        type=float,
        help=f"refresh interval (default: {REFRESH_SECONDS_ENV} or {DashboardConfig.refresh_seconds:g})",
    )
    parser.add_argument(
        "--job-runs",
        help="'glue', 'local' or the path of a job_runs.jsonl (default: local when "
        "the secrets are local files, else glue)",
    )
    args = parser.parse_args(argv)
    # The app reads its settings from the environment: Streamlit runs it as a script in this process.
    for variable, value in (
        (SECRET_ID_ENV, args.secret_id),
        (REFRESH_SECONDS_ENV, args.refresh_seconds),
        (JOB_RUNS_ENV, args.job_runs),
    ):
        if value is not None:
            os.environ[variable] = str(value)
    try:
        DashboardConfig.from_env()  # a bad setting fails here, before a server starts
    except DashboardConfigError as error:
        parser.error(str(error))
    # The app's log lines (warehouse problems, skipped job run records): JSON on stderr, as the jobs log.
    logs.configure(job="totesys-dashboard")

    from streamlit.web import cli

    sys.exit(cli.main(streamlit_args(args.port, args.address), prog_name="streamlit", standalone_mode=True))


if __name__ == "__main__":
    main()
