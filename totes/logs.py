"""Structured logging: one JSON object per line, which CloudWatch Logs Insights parses field by field.

Every record carries the job name and run id bound by :func:`configure`; callers add event fields with
``logger.info("table ingested", extra={"fields": {...}})`` or through :func:`log_event`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
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


def configure(level: int = logging.INFO, stream=None, **context) -> None:
    """Send the ``totes`` loggers to ``stream`` (stderr by default) as JSON lines, tagged with ``context``."""
    _context.clear()
    _context.update({key: value for key, value in context.items() if value is not None})
    logger = logging.getLogger("totes")
    logger.setLevel(level)
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)


def bind(**context) -> None:
    """Add fields to every later record (e.g. the run id once it is known)."""
    _context.update({key: value for key, value in context.items() if value is not None})


def log_event(logger: logging.Logger, message: str, level: int = logging.INFO, **fields) -> None:
    logger.log(level, message, extra={"fields": fields})
