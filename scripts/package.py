"""Build what Glue loads besides the job scripts (``make package``): the shared ``totes`` package as the zip of
``--extra-py-files``, and the wheels of the third-party modules each job needs (``--additional-python-modules``).

The zip holds what the Glue jobs import: the ``totes`` package without the local tooling (``totes/source``,
the local database generator and simulator, and ``totes/local``, the local runtime) and without bytecode, plus
the warehouse migrations (``sql/warehouse``, as ``totes/warehouse/sql``), which the load job's pre-flight reads.
It is reproducible: entries sorted, timestamps and permissions fixed, so the same code always gives the same
bytes, and Terraform's ``filemd5`` (terraform/artifacts.tf) changes, and the zip is uploaded again, only when
the code does.

The wheels: the jobs with a connection run in private subnets where no package index is reachable, so Glue
installs each job's modules (``python_modules`` in workflow/workflow.json, at the versions requirements.txt
pins) from wheel files in the artifacts bucket, with pip's ``--no-index``. They are the index's own files for
Glue 5.1's platform (CPython 3.11, manylinux x86_64), never rebuilt: a version's files on the index cannot be
replaced, so the same pins always give the same bytes, which ``dist/python-modules.json`` records (SHA-256)
beside which wheels each pin needs. Dependencies Glue already provides at a version that satisfies them
(requirements-glue-5.1.txt, e.g. typing_extensions) are left to Glue.

    python scripts/package.py [--output dist/totes.zip] [--wheels dist/python-modules]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
PACKAGE = "totes"
DEFAULT_OUTPUT = REPO_DIR / "dist" / "totes.zip"
DEFAULT_WHEELS = REPO_DIR / "dist" / "python-modules"
WHEEL_MANIFEST = "python-modules.json"  # beside the wheels folder; terraform/artifacts.tf reads it
# Glue 5.1's interpreter and platform.
GLUE_PLATFORM = ("--platform", "manylinux2014_x86_64", "--python-version", "3.11", "--implementation", "cp",
                 "--abi", "cp311")
# Local tooling, never run on Glue (and importing dependencies Glue does not have).
EXCLUDED_SUBPACKAGES = ("totes/source", "totes/local", "totes/dashboard")
EXCLUDED_DIR_NAMES = {"__pycache__"}
EXCLUDED_SUFFIXES = {".pyc", ".pyo"}
# Files from outside the package that the jobs read on Glue, and the package folder they go to in the zip: the
# warehouse migrations, whose latest version the load job's pre-flight requires (totes/warehouse/migrations.py).
PACKAGE_DATA = {"sql/warehouse": "totes/warehouse/sql"}
# The earliest time a zip entry can carry.
FIXED_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644


def package_files(repo_dir: Path = REPO_DIR) -> list[str]:
    """Repository-relative POSIX paths of the files that go into the zip, sorted."""
    files = []
    for path in (repo_dir / PACKAGE).rglob("*"):
        relative = path.relative_to(repo_dir)
        posix = relative.as_posix()
        if not path.is_file():
            continue
        if any(part in EXCLUDED_DIR_NAMES for part in relative.parts):
            continue
        if path.suffix in EXCLUDED_SUFFIXES:
            continue
        if any(posix == excluded or posix.startswith(excluded + "/") for excluded in EXCLUDED_SUBPACKAGES):
            continue
        files.append(posix)
    return sorted(files)


def package_data(repo_dir: Path = REPO_DIR) -> dict[str, Path]:
    """The zip entries of PACKAGE_DATA, with the file each is copied from."""
    return {f"{target}/{path.name}": path
            for source, target in PACKAGE_DATA.items() for path in sorted((repo_dir / source).glob("*.sql"))}


def build(output: Path = DEFAULT_OUTPUT, repo_dir: Path = REPO_DIR) -> list[str]:
    """Write the zip to ``output`` (replacing it) and return the entries written."""
    data = package_data(repo_dir)
    entries = sorted(package_files(repo_dir) + list(data))
    if f"{PACKAGE}/__init__.py" not in entries:
        raise FileNotFoundError(f"{repo_dir / PACKAGE / '__init__.py'} is missing: nothing to package")
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    with zipfile.ZipFile(partial, "w") as archive:
        for entry in entries:
            info = zipfile.ZipInfo(entry, date_time=FIXED_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o100000 | FILE_MODE) << 16
            info.create_system = 3  # Unix, whatever machine builds it
            archive.writestr(info, data.get(entry, repo_dir / entry).read_bytes(), compresslevel=9)
    # A half-written zip is never left where Terraform would upload it.
    partial.replace(output)
    return entries


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_pins(path: Path) -> dict[str, str]:
    """``name[extras]==version`` lines of a requirements file, by normalised distribution name."""
    pins = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)(\[[A-Za-z0-9_,-]+\])?==(\S+)", line.strip())
        if match:
            pins[_normalised(match.group(1))] = match.group(0)
    return pins


def job_python_modules(repo_dir: Path = REPO_DIR) -> dict[str, list[str]]:
    """The pinned requirement of each module each job names in workflow/workflow.json."""
    workflow = json.loads((repo_dir / "workflow" / "workflow.json").read_text())
    pins = requirement_pins(repo_dir / "requirements.txt")
    modules = {}
    for key, job in workflow["jobs"].items():
        modules[key] = []
        for module in job.get("python_modules", []):
            name = _normalised(re.sub(r"\[.*\]$", "", module))
            if name not in pins:
                raise ValueError(f"job {key} names python module {module!r}, which requirements.txt does not pin")
            modules[key].append(pins[name])
    return modules


def _wheel_distribution(filename: str) -> tuple[str, str]:
    name, version = filename.split("-")[:2]
    return _normalised(name), version


def download_wheels(pin: str, folder: Path, glue_requirements: Path) -> list[Path]:
    """The wheels ``pin`` needs on Glue 5.1, dependencies included, except those Glue provides.

    Glue's own versions constrain the resolver, so a module whose dependency Glue has at a version it cannot
    use fails here, at packaging, instead of at the job's first start.
    """
    glue_provided = requirement_pins(glue_requirements)
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                        "--only-binary=:all:", *GLUE_PLATFORM, "--constraint", str(glue_requirements),
                        "--dest", scratch, pin],
                       check=True, stdout=subprocess.DEVNULL)
        wheels = []
        for path in sorted(Path(scratch).glob("*.whl")):
            name, version = _wheel_distribution(path.name)
            if glue_provided.get(name, "").endswith(f"=={version}"):
                continue
            target = folder / path.name
            target.write_bytes(path.read_bytes())
            wheels.append(target)
    return wheels


def build_wheels(folder: Path = DEFAULT_WHEELS, repo_dir: Path = REPO_DIR) -> dict:
    """Download every job's wheels into ``folder`` (replacing it) and write the manifest beside it."""
    modules = job_python_modules(repo_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.whl"):
        stale.unlink()
    wheels_of = {}
    for pin in sorted({pin for pins in modules.values() for pin in pins}):
        wheels_of[pin] = sorted(path.name for path in download_wheels(pin, folder, repo_dir / "requirements-glue-5.1.txt"))
    manifest = {
        "jobs": modules,
        "wheels": wheels_of,
        "sha256": {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.glob("*.whl"))},
    }
    (folder.parent / WHEEL_MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help=f"zip to write (default {DEFAULT_OUTPUT})"
    )
    parser.add_argument(
        "--wheels", type=Path, default=DEFAULT_WHEELS, help=f"folder of the jobs' wheels (default {DEFAULT_WHEELS})"
    )
    args = parser.parse_args(argv)
    entries = build(args.output)
    sys.stdout.write(f"{args.output}: {len(entries)} files of the {PACKAGE} package\n")
    manifest = build_wheels(args.wheels)
    sys.stdout.write(f"{args.wheels}: {', '.join(manifest['sha256'])}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
