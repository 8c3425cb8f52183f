"""getResolvedOptions follows the argument rules of the Glue 5.x runtime (../shared/reference/glue-notes.md §2.1)."""

import pytest
from awsglue.utils import GlueArgumentError, getResolvedOptions

SCRIPT = "script.py"


def test_named_options_come_back_with_underscores():
    args = getResolvedOptions([SCRIPT, "--JOB_NAME", "ingest", "--ingestion-zone", "s3://zone"],
                              ["JOB_NAME", "ingestion-zone"])
    assert args["JOB_NAME"] == "ingest"
    assert args["ingestion_zone"] == "s3://zone"


def test_a_missing_named_option_is_an_error_naming_it():
    with pytest.raises(GlueArgumentError, match="--source-secret-id"):
        getResolvedOptions([SCRIPT, "--JOB_NAME", "ingest"], ["JOB_NAME", "source-secret-id"])


def test_unknown_options_glue_passes_to_every_job_are_ignored():
    args = getResolvedOptions([SCRIPT, "--JOB_NAME", "x", "--enable-metrics", "true", "--conf", "a=b"], ["JOB_NAME"])
    assert "enable_metrics" not in args and "conf" not in args


def test_bookmark_option_defaults_to_disable():
    assert getResolvedOptions([SCRIPT, "--JOB_NAME", "x"], ["JOB_NAME"])["job_bookmark_option"] == "job-bookmark-disable"


@pytest.mark.parametrize("option", ["job-bookmark-enable", "job-bookmark-disable", "job-bookmark-pause"])
def test_each_bookmark_option_is_accepted(option):
    args = getResolvedOptions([SCRIPT, "--JOB_NAME", "x", "--job-bookmark-option", option], ["JOB_NAME"])
    assert args["job_bookmark_option"] == option


def test_an_invalid_bookmark_option_is_an_error():
    with pytest.raises(GlueArgumentError, match="invalid choice"):
        getResolvedOptions([SCRIPT, "--job-bookmark-option", "job-bookmark-sometimes"], [])


def test_legacy_continuation_option_is_translated():
    args = getResolvedOptions([SCRIPT, "--continuation-option", "continuation-readonly"], [])
    assert args["job_bookmark_option"] == "job-bookmark-pause"


@pytest.mark.parametrize("reserved", ["job-bookmark-option", "job-bookmark-from", "JOB_RUN_ID", "JOB_ID"])
def test_asking_for_a_reserved_option_is_refused(reserved):
    with pytest.raises(RuntimeError, match="reserved"):
        getResolvedOptions([SCRIPT], [reserved])


def test_run_ids_are_always_resolved_and_none_when_absent():
    args = getResolvedOptions([SCRIPT, "--JOB_RUN_ID", "jr_1"], [])
    assert args["JOB_RUN_ID"] == "jr_1"
    assert args["JOB_ID"] is None and args["SECURITY_CONFIGURATION"] is None


def test_pause_range_needs_both_ends():
    with pytest.raises(RuntimeError, match="--job-bookmark-to"):
        getResolvedOptions([SCRIPT, "--job-bookmark-option", "job-bookmark-pause", "--job-bookmark-from", "r1"], [])
    args = getResolvedOptions([SCRIPT, "--job-bookmark-option", "job-bookmark-pause", "--job-bookmark-from", "r1",
                               "--job-bookmark-to", "r2"], [])
    assert (args["job_bookmark_from"], args["job_bookmark_to"]) == ("r1", "r2")


def test_a_bookmark_range_without_pause_is_refused():
    with pytest.raises(RuntimeError, match="Invalid option"):
        getResolvedOptions([SCRIPT, "--job-bookmark-option", "job-bookmark-enable", "--job-bookmark-from", "r1",
                            "--job-bookmark-to", "r2"], [])


def test_temp_dir_and_redshift_temp_dir_mirror_each_other():
    args = getResolvedOptions([SCRIPT, "--TempDir", "s3://tmp/"], ["TempDir"])
    assert args["TempDir"] == args["RedshiftTempDir"] == "s3://tmp/"
