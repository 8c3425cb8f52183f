"""The benchmarks' progress lines on stderr (the figures go to the report, not here)."""

from __future__ import annotations

import datetime as dt
import sys


def log(message: str) -> None:
    sys.stderr.write(f"[bench {dt.datetime.now():%H:%M:%S}] {message}\n")
    sys.stderr.flush()
