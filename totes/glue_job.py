"""What every Glue job script shares, in the order the bookmark guarantee needs: a script in ``glue_jobs/`` gives
its :class:`GlueJob` its arguments, checks and run; :meth:`GlueJob.main` refuses bad arguments and missing access
before Spark starts, and moves the bookmark only after the run returned ("job failed; ..." and re-raise if not).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from awsglue.context import GlueContext
from awsglue.job import Job
from awsglue.utils import getResolvedOptions
from pyspark.context import SparkContext
from pyspark.sql import SparkSession

from totes import logs
from totes.bookmarks import JobBookmark
from totes.iceberg import ProcessedCatalog, catalog_from_args, use_catalog
from totes.logs import log_event
from totes.manifests import new_run_id
from totes.preflight import CheckResult, check_before_reading
from totes.spark_session import use_pipeline_sql_conf


@dataclass(frozen=True)
class JobContext:
    """What a job's run gets: its resolved arguments, the options it checked from them, Spark and the catalog."""

    args: dict
    options: Any
    glue_context: GlueContext
    catalog: ProcessedCatalog | None

    @property
    def spark(self) -> SparkSession:
        return self.glue_context.spark_session

    @property
    def glue_job_run_id(self) -> str | None:
        return self.args.get("JOB_RUN_ID")

    @staticmethod
    def new_run_id() -> str:
        """A run id for the next run this job commits, tagged on every later log line."""
        run_id = new_run_id()
        logs.bind(run_id=run_id)
        return run_id


@dataclass(frozen=True)
class Finished:
    """A run that returned: the bookmark to move past ``run_id``, and the fields of the "job succeeded" line."""

    result: Any
    bookmark: JobBookmark
    run_id: str
    summary: dict


@dataclass(frozen=True)
class GlueJob:
    """One job's own parts. ``options`` checks the arguments the run needs (its value is ``JobContext.options``);
    ``left_as_it_was`` ends the failure line: what a failed run leaves untouched."""

    required_args: list[str]
    optional_args: dict[str, str]
    checks: Callable[[dict], list[CheckResult]]
    run: Callable[[JobContext], Finished]
    logger: logging.Logger
    options: Callable[[dict], Any] = lambda args: None
    processed_catalog: bool = False  # the job reads or writes the processed zone's Iceberg tables
    left_as_it_was: str = "bookmark not advanced"

    def resolve_args(self, argv: list[str]) -> dict:
        """getResolvedOptions, which makes every option it is given required, for the required arguments and the
        optional ones that were passed; the other optional ones get their defaults."""
        present = [name for name in self.optional_args if f"--{name}" in argv]
        args = getResolvedOptions(argv, self.required_args + present)
        for name, default in self.optional_args.items():
            args.setdefault(name.replace("-", "_"), default)
        return args

    def main(self, argv: list[str] | None = None) -> Any:
        """Runs the job and returns what its run returned; the bookmark moves only if the run returned."""
        args = self.resolve_args(sys.argv if argv is None else argv)
        logs.configure(job=args["JOB_NAME"], glue_job_run_id=args.get("JOB_RUN_ID"))
        options = self.options(args)
        check_before_reading(self.checks, args, self.logger)  # README, "Pre-flight"

        glue_context = GlueContext(SparkContext.getOrCreate())
        use_pipeline_sql_conf(glue_context.spark_session)
        job = Job(glue_context)
        job.init(args["JOB_NAME"], args)
        catalog = catalog_from_args(args) if self.processed_catalog else None
        if catalog is not None:
            use_catalog(glue_context.spark_session, catalog)

        try:
            finished = self.run(JobContext(args, options, glue_context, catalog))
        except Exception as error:
            log_event(self.logger, f"job failed; {self.left_as_it_was}", logging.ERROR,
                      error_type=type(error).__name__, error=str(error))
            raise
        # Everything the run writes is committed: only now may the bookmark move, then Glue's own commit.
        finished.bookmark.commit(finished.run_id)
        job.commit()
        log_event(self.logger, "job succeeded", **finished.summary)
        return finished.result
