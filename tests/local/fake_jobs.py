"""Small job scripts and workflow definitions for the runner tests: real scripts, run as Glue runs them."""

from __future__ import annotations

import json
from pathlib import Path

from totes.local.workflow import Workflow, load_workflow

# Appends its job name to the file --out names.
APPEND_NAME = (
    "import sys\n"
    "out = sys.argv[sys.argv.index('--out') + 1]\n"
    "open(out, 'a').write(sys.argv[sys.argv.index('--JOB_NAME') + 1] + '\\n')\n"
)
FAIL = "raise RuntimeError('boom')\n"
# Sleeps in short steps: an interruption raised into its thread arrives within one step.
SLEEP_FOREVER = "import time\nwhile True:\n    time.sleep(0.02)\n"


def chain_workflow(tmp_path: Path, scripts: dict[str, str], max_retries: int = 0, timeout_minutes: int = 30,
                   name_prefix: str = "totesys-", arguments: dict[str, str] | None = None) -> Workflow:
    """A workflow whose jobs run one after the other, each when the one before SUCCEEDED.

    ``scripts`` maps job keys (in chain order) to script source texts; job names are ``<prefix><key>``.
    """
    jobs = {}
    for key, source in scripts.items():
        path = tmp_path / f"{key}.py"
        path.write_text(source)
        jobs[key] = {"name": f"{name_prefix}{key}", "script": str(path), "max_retries": max_retries,
                     "timeout_minutes": timeout_minutes,
                     "arguments": {"--out": str(tmp_path / "out.txt"), **(arguments or {})}}
    keys = list(scripts)
    triggers = [{"name": "start", "type": "ON_DEMAND", "actions": [{"job": keys[0]}]}]
    for before, after in zip(keys, keys[1:]):
        triggers.append({"name": f"{after}-after-{before}", "type": "CONDITIONAL",
                         "actions": [{"job": after}],
                         "predicate": {"conditions": [{"job": before, "state": "SUCCEEDED"}]}})
    path = tmp_path / "workflow.json"
    path.write_text(json.dumps({"name": "wf", "jobs": jobs, "triggers": triggers}))
    return load_workflow({}, path)


def out_lines(tmp_path: Path) -> list[str]:
    out = tmp_path / "out.txt"
    return out.read_text().split() if out.exists() else []
