"""``python -m totes.preflight`` (``make preflight``): every job's pre-flight with the local workflow's arguments,
one line per check; exit 1 on any problem."""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from collections.abc import Callable, Iterator

from totes import logs
from totes.job_args import resolve_args
from totes.local.runner import job_argv, local_workflow_variables
from totes.local.workflow import load_workflow
from totes.preflight import CheckResult, problems_of
from totes.preflight.databases import ingest_checks, load_checks, transform_checks

# The checks of each job of workflow/workflow.json, by its key there.
JOB_CHECKS: dict[str, Callable[[dict], list[CheckResult]]] = {
    "ingest": ingest_checks, "transform": transform_checks, "load": load_checks}


def _job_script(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_workflow(workflow) -> Iterator[tuple[str, list[CheckResult], float]]:
    """(job name, results, seconds) of every job of ``workflow``, with the arguments its definition gives the job,
    resolved by the job script's own argument lists as the job resolves them."""
    for job in workflow.jobs.values():
        script = _job_script(job.script)
        args = resolve_args(job_argv(job, "preflight", workflow.name, "preflight"), script.REQUIRED_ARGS,
                            script.OPTIONAL_ARGS)
        started = time.monotonic()
        results = JOB_CHECKS[job.key](args)
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
