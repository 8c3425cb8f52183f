"""Errors the ingestion job raises, each naming what is wrong and never carrying a password."""

from __future__ import annotations


class IngestionError(RuntimeError):
    """Base class: the ingestion run failed and its bookmark did not advance."""


class SourceUnavailableError(IngestionError):
    """The source database could not be reached or refused the credentials."""


class SourceGrantError(IngestionError):
    """The source role lacks a grant the read window needs; the message names the GRANT that fixes it."""


class ZoneWriteError(IngestionError):
    """The ingestion zone refused a write (no space left, no permission)."""


class ZoneReadError(IngestionError):
    """An earlier run's file in the ingestion zone, needed to de-duplicate the overlap, cannot be read."""


class JobArgumentError(IngestionError, ValueError):
    """A job argument has a value the job cannot use."""


class RewindRefusedError(JobArgumentError):
    """A rewind's window cannot be read safely (invalid, in the future, beyond what was ingested); nothing ran."""


def java_root_cause(error: BaseException) -> str:
    """The innermost Java exception message of a Py4J error, else ``str(error)``'s first line."""
    java_exception = getattr(error, "java_exception", None)
    message = None
    while java_exception is not None:
        message = java_exception.toString()
        java_exception = java_exception.getCause()
    if message is None:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return message


def scrub(text: str, *secret_values: str) -> str:
    """Remove secret values from a message, belt and braces for driver messages we do not control."""
    for value in secret_values:
        if value:
            text = text.replace(value, "***")
    return text
