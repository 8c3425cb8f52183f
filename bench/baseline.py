"""The pipeline as it was before the benchmark's fixes, runnable beside the current one in the same run.

A copy of the code the jobs run (``totes/``, ``glue_jobs/``, ``local_glue/``, ``sql/``, ``workflow/``) under
``bench/results/tmp/baseline/``, with the files the fixes changed taken from the last commit that does not
have them (``git show``, which reads the repository and changes nothing). Every other file is the working
tree's, so "before" and "after" differ by exactly those files.

Opt-in (``python -m bench.run --before-fixes``): the old files must still run beside today's others and read
the state today's code leaves. ``BEFORE_FIXES_REF`` below predates the reconciliation and the layered current
state and no longer does; point it and ``FIXED_FILES`` at the fixes being measured before using the pass.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from bench.env import SCRATCH_DIR
from totes.settings import REPO_DIR

# The pipeline files the benchmark's fixes changed (README, "Benchmarks").
FIXED_FILES = (
    "totes/ingest/run.py",
    "totes/transform/run.py",
    "totes/settings.py",
    "local_glue/awsglue/context.py",
)
CODE_DIRS = ("totes", "glue_jobs", "local_glue", "sql", "workflow")
BEFORE_FIXES_REF = "7ba22935ea4ea6e93f9d062860d76c54d754e686"


def prepare(ref: str = BEFORE_FIXES_REF, root: Path = SCRATCH_DIR / "baseline") -> Path | None:
    """The baseline code tree; None when ``ref`` is not in this repository (a shallow clone, say)."""
    originals = {}
    for path in FIXED_FILES:
        shown = subprocess.run(["git", "show", f"{ref}:{path}"], cwd=REPO_DIR, capture_output=True, text=True)
        if shown.returncode != 0:
            return None
        originals[path] = shown.stdout
    shutil.rmtree(root, ignore_errors=True)
    for name in CODE_DIRS:
        shutil.copytree(REPO_DIR / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    for path, text in originals.items():
        (root / path).write_text(text)
    return root
