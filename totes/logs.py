"""Structured logging: one JSON object per line, which CloudWatch Logs Insights parses field by field.

Every record carries the job name and run id bound by :func:`configure`; callers add event fields with
``logger.info("table ingested", extra={"fields": {...}})`` or through :func:`log_event`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys

_context: dict = {}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "timestamp": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_context,
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            payload["error_type"] = record.exc_info[0].__name__ if record.exc_info[0] else None
            payload["error"] = str(record.exc_info[1])
        return json.dumps(payload, default=str)


class ConsoleFormatter(logging.Formatter):
    """A short human line per event for a terminal; the JSON file keeps every field."""

    _shown = ("table", "rows", "status", "inserted", "updated", "unchanged", "files", "seconds", "manifest",
              "error")

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {})
        extras = " ".join(f"{key}={fields[key]}" for key in self._shown if fields.get(key) is not None)
        job = _context.get("job", record.name)
        return f"[{job}] {record.levelname.lower()}: {record.getMessage()}" + (f" ({extras})" if extras else "")


CONSOLE_FORMAT_ENV = "TOTES_LOG_CONSOLE"  # "json" (default, what CloudWatch gets) or "text"
LOG_FILE_ENV = "TOTES_LOG_FILE"  # also append JSON lines to this file (the local runner sets it)


def configure(level: int = logging.INFO, stream=None, **context) -> None:
    """Send the ``totes`` loggers to ``stream`` (stderr by default) as JSON lines, tagged with ``context``.

    Locally ``TOTES_LOG_CONSOLE=text`` makes the console readable and ``TOTES_LOG_FILE`` keeps the JSON lines.
    """
    _context.clear()
    _context.update({key: value for key, value in context.items() if value is not None})
    logger = logging.getLogger("totes")
    logger.setLevel(level)
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    console = logging.StreamHandler(stream or sys.stderr)
    console.setFormatter(ConsoleFormatter() if os.environ.get(CONSOLE_FORMAT_ENV) == "text" else JsonFormatter())
    logger.addHandler(console)
    log_file = os.environ.get(LOG_FILE_ENV)
    if log_file:
        os.makedirs(os.path.dirname(log_file) or ".", exist_ok=True)
        file_handler = logging.FileHandler(log_file)
        file_handler.setFormatter(JsonFormatter())
        logger.addHandler(file_handler)


def bind(**context) -> None:
    """Add fields to every later record (e.g. the run id once it is known)."""
    _context.update({key: value for key, value in context.items() if value is not None})


def log_event(logger: logging.Logger, message: str, level: int = logging.INFO, **fields) -> None:
    logger.log(level, message, extra={"fields": fields})
