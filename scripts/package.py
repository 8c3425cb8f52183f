"""Build the shared ``totes`` package as the zip Glue loads with ``--extra-py-files`` (``make package``).

The zip holds what the Glue jobs import: the ``totes`` package without the local tooling (``totes/source``,
the local database generator and simulator, and ``totes/local``, the local runtime) and without bytecode.
It is reproducible: entries sorted, timestamps and permissions fixed, so the same code always gives the same
bytes, and Terraform's ``filemd5`` (terraform/artifacts.tf) changes, and the zip is uploaded again, only when
the code does.

    python scripts/package.py [--output dist/totes.zip]
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
PACKAGE = "totes"
DEFAULT_OUTPUT = REPO_DIR / "dist" / "totes.zip"
# Local tooling, never run on Glue (and importing dependencies Glue does not have).
EXCLUDED_SUBPACKAGES = ("totes/source", "totes/local", "totes/dashboard")
EXCLUDED_DIR_NAMES = {"__pycache__"}
EXCLUDED_SUFFIXES = {".pyc", ".pyo"}
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


def build(output: Path = DEFAULT_OUTPUT, repo_dir: Path = REPO_DIR) -> list[str]:
    """Write the zip to ``output`` (replacing it) and return the entries written."""
    entries = package_files(repo_dir)
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
            archive.writestr(info, (repo_dir / entry).read_bytes(), compresslevel=9)
    # A half-written zip is never left where Terraform would upload it.
    partial.replace(output)
    return entries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help=f"zip to write (default {DEFAULT_OUTPUT})"
    )
    args = parser.parse_args(argv)
    entries = build(args.output)
    sys.stdout.write(f"{args.output}: {len(entries)} files of the {PACKAGE} package\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
