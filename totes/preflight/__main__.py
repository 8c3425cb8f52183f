"""``python -m totes.preflight`` (``make preflight``): every job's pre-flight with the local workflow's arguments,
one line per check; exit 1 on any problem."""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from collections.abc import Iterator

from totes import logs
from totes.local.runner import job_argv, local_workflow_variables
from totes.local.workflow import load_workflow
from totes.preflight import CheckResult, problems_of


def _job_script(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_workflow(workflow) -> Iterator[tuple[str, list[CheckResult], float]]:
    """(job name, results, seconds) of every job of ``workflow``, with the arguments its definition gives the job,
    resolved and checked as the job script's own :class:`~totes.glue_job.GlueJob` does."""
    for job in workflow.jobs.values():
        glue_job = _job_script(job.script).JOB
        args = glue_job.resolve_args(job_argv(job, "preflight", workflow.name, "preflight"))
        started = time.monotonic()
        results = glue_job.checks(args)
        yield job.name, results, time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    """Every job's checks with the local workflow's arguments, one line per check; 1 if any problem."""
    argparse.ArgumentParser(prog="python -m totes.preflight", description=main.__doc__).parse_args(argv)
    logs.configure(job="totesys-preflight")
    problems = 0
    for job_name, results, seconds in check_workflow(load_workflow(local_workflow_variables())):
        print(f"{job_name} ({seconds * 1000:.0f} ms)")
        for result in results:
            print("\n".join(f"  {line}" for line in result.lines()))
        problems += len(problems_of(results))
    print(f"pre-flight: {problems} problem{'s' if problems != 1 else ''}" if problems else "pre-flight: all ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
