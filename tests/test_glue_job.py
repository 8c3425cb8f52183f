"""The job skeleton: the bookmark moves only after the run returned, and a run that raises says so and re-raises.

A real local GlueContext and Job (``local_glue``), a real bookmark in a temp zone, the JSON log lines read back.
"""

from __future__ import annotations

import json
import logging

import pytest

from totes.bookmarks import ENABLE, JobBookmark
from totes.glue_job import Finished, GlueJob
from totes.preflight import PreflightError, failed
from totes.zones import ZoneStore

logger = logging.getLogger("totes.test_job")


def _argv(zone: ZoneStore) -> list[str]:
    return ["job.py", "--JOB_NAME", "totesys-test", "--zone", zone.uri, "--job-bookmark-option", ENABLE]


def _run(zone: ZoneStore, run, checks=lambda args: []):
    return GlueJob(["JOB_NAME", "zone"], {"left-out": "default"}, checks=checks, run=run, logger=logger,
                   left_as_it_was="bookmark not advanced").main(_argv(zone))


def _staging_run(fail_with: Exception | None = None):
    def run(job):
        bookmark = JobBookmark(ZoneStore.for_uri(job.args["zone"]), job.args["JOB_NAME"],
                               job.args["job_bookmark_option"])
        bookmark.stage("orders", {"to": job.args["left_out"]})
        if fail_with is not None:
            raise fail_with
        return Finished("the result", bookmark, job.new_run_id(), summary={"rows": 3})
    return run


def _logged(capfd) -> list[dict]:
    return [json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")]


@pytest.fixture
def zone(tmp_path) -> ZoneStore:
    return ZoneStore.for_uri((tmp_path / "zone").as_uri())


def test_a_run_that_returns_moves_the_bookmark_then_logs_its_summary(spark, zone, capfd):
    assert _run(zone, _staging_run()) == "the result"

    bookmark = JobBookmark(zone, "totesys-test", ENABLE)
    assert bookmark.state("orders") == {"to": "default"}
    succeeded = [line for line in _logged(capfd) if line["message"] == "job succeeded"]
    assert len(succeeded) == 1 and succeeded[0]["rows"] == 3 and succeeded[0]["job"] == "totesys-test"
    assert succeeded[0]["run_id"] == bookmark.last_accounted_run_id


def test_a_run_that_raises_leaves_the_bookmark_and_logs_the_failure_line(spark, zone, capfd):
    _run(zone, _staging_run())
    committed = zone.read_text("_state/bookmarks/totesys-test.json")
    capfd.readouterr()

    with pytest.raises(OSError, match="disk full"):
        _run(zone, _staging_run(fail_with=OSError("disk full (injected)")))

    assert zone.read_text("_state/bookmarks/totesys-test.json") == committed
    logged = _logged(capfd)
    assert [line["message"] for line in logged if line["message"].startswith("job ")] == [
        "job failed; bookmark not advanced"]
    failure = logged[-1]
    assert failure["level"] == "ERROR" and failure["error_type"] == "OSError"
    assert failure["error"] == "disk full (injected)"


def test_a_failed_pre_flight_never_starts_the_run(spark, zone):
    started = []

    with pytest.raises(PreflightError, match="no route"):
        _run(zone, lambda job: started.append(job), checks=lambda args: [failed("s3", "no route to S3")])

    assert started == [] and not zone.exists("_state/bookmarks/totesys-test.json")
