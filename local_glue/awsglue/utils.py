"""``getResolvedOptions`` with the argument rules of the Glue 5.x runtime."""

from __future__ import annotations

import argparse

JOB_BOOKMARK_OPTION = "--job-bookmark-option"
JOB_BOOKMARK_CHOICES = ("job-bookmark-enable", "job-bookmark-pause", "job-bookmark-disable")
# Glue's pre-bookmark spelling, still accepted and translated choice by choice.
CONTINUATION_OPTION = "--continuation-option"
CONTINUATION_CHOICES = ("continuation-enabled", "continuation-readonly", "continuation-ignore")
BOOKMARK_RANGE_OPTIONS = ("--job-bookmark-from", "--job-bookmark-to")
RUN_ID_OPTIONS = ("--JOB_ID", "--JOB_RUN_ID", "--SECURITY_CONFIGURATION")
ENCRYPTION_TYPE_OPTION = "--encryption-type"
TEMP_DIR_OPTIONS = ("TempDir", "RedshiftTempDir")


class GlueArgumentError(Exception):
    """A job argument is missing or invalid (Glue raises this instead of exiting)."""


class _GlueArgumentParser(argparse.ArgumentParser):
    def error(self, message):
        raise GlueArgumentError(message)


def _reserved(option: str, requested: list[str]) -> None:
    if option.lstrip("-") in requested:
        raise RuntimeError(f"Using reserved arguments {option}")


def getResolvedOptions(args: list[str], options: list[str]) -> dict:  # noqa: N802 - Glue's name
    """Parse ``--name value`` job arguments; every name in ``options`` is required.

    Returns a dict keyed by the option names with hyphens turned into underscores, plus the options Glue always
    resolves (bookmark option and range, run ids, temp dirs). Arguments nobody asked for are ignored, as Glue
    passes its own (``--enable-metrics``, ``--conf``...) to every script.
    """
    parser = _GlueArgumentParser()
    for option in (JOB_BOOKMARK_OPTION, CONTINUATION_OPTION, ENCRYPTION_TYPE_OPTION, *BOOKMARK_RANGE_OPTIONS,
                   *RUN_ID_OPTIONS):
        _reserved(option, options)
    parser.add_argument(JOB_BOOKMARK_OPTION, choices=JOB_BOOKMARK_CHOICES, required=False)
    parser.add_argument(CONTINUATION_OPTION, choices=CONTINUATION_CHOICES, required=False)
    for option in (*BOOKMARK_RANGE_OPTIONS, *RUN_ID_OPTIONS):
        parser.add_argument(option, required=False)
    parser.add_argument(ENCRYPTION_TYPE_OPTION, choices=("sse-s3",))
    parser.add_argument("--enable-data-lineage", dest="enable_data_lineage", required=False)
    for option in TEMP_DIR_OPTIONS:
        parser.add_argument(f"--{option}", required=False)
    for option in options:
        if option not in TEMP_DIR_OPTIONS:
            parser.add_argument(f"--{option}", required=True)

    parsed, _unknown = parser.parse_known_args(args[1:])
    resolved = vars(parsed)

    if resolved["TempDir"] is not None:
        resolved["RedshiftTempDir"] = resolved["TempDir"]
    elif resolved["RedshiftTempDir"] is not None:
        resolved["TempDir"] = resolved["RedshiftTempDir"]

    continuation = resolved.pop("continuation_option")
    if resolved["job_bookmark_option"] is None:
        if continuation is None:
            resolved["job_bookmark_option"] = "job-bookmark-disable"
        else:
            resolved["job_bookmark_option"] = JOB_BOOKMARK_CHOICES[CONTINUATION_CHOICES.index(continuation)]

    absent_range = [option for option in BOOKMARK_RANGE_OPTIONS
                    if resolved[option[2:].replace("-", "_")] is None]
    if resolved["job_bookmark_option"] == "job-bookmark-pause":
        if len(absent_range) == 1:
            raise RuntimeError(f"Missing option or value for {absent_range[0]}")
    elif not absent_range:
        raise RuntimeError("Invalid option(s)" + " ".join(BOOKMARK_RANGE_OPTIONS))
    return resolved
