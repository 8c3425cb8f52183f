"""scripts/system_packages.sh: which Debian packages a machine lacks for the tools asked for, and what then.

The decisions are tested on a PATH that holds only the tools a case says are present, in --dry-run or as a
user who may not install; apt-get itself is never run here. A tool the script only looks up is `true` under
the tool's name; the ones it runs (bash, id, python3) are the real ones. The installing path ran for real on
this machine: `make test-packages` installed chromium.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from totes.settings import REPO_DIR

SCRIPT = REPO_DIR / "scripts" / "system_packages.sh"
EVERY_PACKAGE = ["python3-venv", "postgresql-15", "openjdk-17-jre-headless", "maven", "npm", "chromium",
                 "curl", "procps"]


@pytest.fixture
def machine():
    """A bare PATH to fill with the tools a case has; world-readable, so that another user can use it."""
    with tempfile.TemporaryDirectory(prefix="system-packages-") as root:
        os.chmod(root, 0o755)
        bin_dir = Path(root) / "bin"
        bin_dir.mkdir(mode=0o755)
        pg_bin = Path(root) / "pg"
        pg_bin.mkdir(mode=0o755)

        def run(*args: str, tools=(), postgresql: bool = False, user: str | None = None):
            for tool in ("bash", "id", *tools):
                if not (bin_dir / tool).exists():
                    # The virtualenv's base interpreter has venv and ensurepip, as with python3-venv.
                    real = {"python3": sys._base_executable, "bash": shutil.which("bash"),
                            "id": shutil.which("id")}.get(tool, shutil.which("true"))
                    (bin_dir / tool).symlink_to(real)
            if postgresql:
                (pg_bin / "initdb").symlink_to(shutil.which("true"))
            command = [str(SCRIPT), *args]
            if user is not None:
                command = [shutil.which("runuser"), "-u", user, "--", *command]
            return subprocess.run(command, capture_output=True, text=True, timeout=60,
                                  env={"PATH": str(bin_dir), "PG_BIN": str(pg_bin)})

        yield run


def test_a_bare_machine_would_get_every_package(machine):
    result = machine("--dry-run")
    assert result.returncode == 0, result.stderr
    assert result.stderr == f"system_packages: would install {' '.join(EVERY_PACKAGE)}\n"


def test_only_the_missing_packages_of_the_tools_asked_for_are_named(machine):
    result = machine("--dry-run", "python3-venv", "java", "maven", "chromium", "postgresql",
                     tools=("python3", "java", "curl"))
    assert result.returncode == 0, result.stderr
    # python3 here has venv and ensurepip, java is there; curl is there but was not asked for.
    assert result.stderr == "system_packages: would install maven chromium postgresql-15\n"


def test_postgresql_counts_as_present_only_with_its_server_binaries(machine):
    assert machine("--dry-run", "postgresql").stderr == "system_packages: would install postgresql-15\n"
    present = machine("--dry-run", "postgresql", postgresql=True)
    assert present.stderr == "system_packages: nothing to install\n"


def test_a_machine_that_has_everything_pays_nothing_and_prints_nothing(machine):
    tools = ("python3", "java", "mvn", "npm", "chromium", "curl", "ps")
    result = machine(tools=tools, postgresql=True)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_an_unknown_tool_is_refused_with_the_known_ones(machine):
    result = machine("--dry-run", "java", "golang")
    assert result.returncode == 2
    known = "python3-venv postgresql java maven npm chromium curl ps"
    assert result.stderr.splitlines() == [f"system_packages: unknown tool 'golang' (known: {known})"]


def test_another_user_is_told_the_packages_and_the_command_to_run(machine):
    # Root runs it as `nobody`; anyone else is already not root.
    user = "nobody" if os.geteuid() == 0 else None
    result = machine("java", "chromium", tools=("java", "apt-get"), user=user)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "system_packages: missing chromium; as root run: apt-get update && apt-get install -y chromium"]


def test_without_apt_get_it_names_what_is_missing(machine):
    result = machine("npm", user="nobody" if os.geteuid() == 0 else None)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "system_packages: missing npm and no apt-get here (not Debian?): install the Debian 12 equivalents"
    ]


def test_the_targets_install_each_tool_before_they_use_it():
    """`make run` and `make test` on a bare machine: every tool's package is seen to before its first use."""
    run = {"python3-venv": r"-m venv", "maven java": r"fetch_jars\.sh", "postgresql": r"local_pg\.sh start"}
    test = {**run, "npm": r"fetch_provider_schema\.sh", "chromium curl ps": r"-m pytest"}
    for goal, uses in (("run", run), ("test", test)):
        # -n -B: every recipe line of the goal and its prerequisites, printed in order, none run.
        # MAKEFLAGS cleared: under `make test` the outer make's flags (-j, say) would reach this one.
        env = {key: value for key, value in os.environ.items() if key not in ("MAKEFLAGS", "MFLAGS")}
        lines = subprocess.run(["make", "--no-print-directory", "-n", "-B", goal], cwd=REPO_DIR, env=env,
                               capture_output=True, text=True, check=True).stdout.splitlines()
        for tools, use in uses.items():
            installs = [n for n, line in enumerate(lines) if line.endswith(f"system_packages.sh {tools}")]
            first_use = next(n for n, line in enumerate(lines) if re.search(use, line))
            assert installs and installs[0] < first_use, (goal, tools)
