"""OpenTofu for evaluating terraform/ here (``tofu console``, ``tofu fmt``): built once per machine from its Go
module at the version scripts/build_tofu.sh pins, never downloaded as a binary."""

from __future__ import annotations

import subprocess

from totes.settings import REPO_DIR

BUILD_SCRIPT = REPO_DIR / "scripts" / "build_tofu.sh"


class ToolUnavailableError(RuntimeError):
    """OpenTofu could not be built (no Go, no module): the one line the build script printed says why."""


def tofu_binary() -> str:
    """The path of the pinned OpenTofu, building it first if this machine has not yet (minutes, once)."""
    result = subprocess.run([str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() or [f"{BUILD_SCRIPT.name} exited with {result.returncode}"]
        raise ToolUnavailableError(lines[-1])
    return result.stdout.strip().splitlines()[-1]
