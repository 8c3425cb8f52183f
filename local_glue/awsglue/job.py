"""Job.init / Job.commit with the lifecycle checks of the Glue runtime."""

from __future__ import annotations

import logging

logger = logging.getLogger("awsglue")


class Job:
    def __init__(self, glue_context):
        self._glue_context = glue_context
        self._name: str | None = None
        self._args: dict = {}

    def init(self, job_name: str, args: dict | None = None) -> None:
        self._name = job_name
        self._args = dict(args or {})
        option = self._args.get("job_bookmark_option", "job-bookmark-disable")
        self._glue_context.bookmarks_active = option in ("job-bookmark-enable", "job-bookmark-pause")

    def commit(self) -> None:
        """Ends the run successfully. Glue saves its bookmark state here; this emulation keeps none of its own."""
        if self._name is None:
            raise RuntimeError("Job.commit() called before Job.init()")
        logger.debug("job %s committed", self._name)
