"""`make package` (scripts/package.py): the zip Glue loads with --extra-py-files holds the package the jobs
import, without the local tooling, and is byte-for-byte reproducible so its filemd5 changes only with code."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile

import pytest

from tests.terraform.tfconfig import REPO_DIR


@pytest.fixture(scope="module")
def package():
    sys.path.insert(0, str(REPO_DIR / "scripts"))
    try:
        import package as module
    finally:
        sys.path.pop(0)
    return module


@pytest.fixture(scope="module")
def built(package, tmp_path_factory):
    output = tmp_path_factory.mktemp("package") / "totes.zip"
    package.build(output)
    return output


def test_zip_is_reproducible(package, built, tmp_path):
    again = tmp_path / "again.zip"
    package.build(again)
    assert again.read_bytes() == built.read_bytes()


def test_zip_holds_the_package_without_local_tooling_or_bytecode(built):
    names = zipfile.ZipFile(built).namelist()
    assert "totes/__init__.py" in names
    assert names == sorted(names)
    assert not [n for n in names if n.startswith(("totes/source/", "totes/local/", "totes/dashboard/"))]
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    expected = sorted(
        p.relative_to(REPO_DIR).as_posix()
        for p in (REPO_DIR / "totes").rglob("*.py")
        if "__pycache__" not in p.parts and p.relative_to(REPO_DIR).parts[1] not in ("source", "local", "dashboard")
    )
    assert names == expected


def test_zip_entries_carry_fixed_timestamps_and_modes(built):
    for info in zipfile.ZipFile(built).infolist():
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert (info.external_attr >> 16) & 0o777 == 0o644


def _totes_imports(path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("totes"):
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names if alias.name.startswith("totes")}
    return modules


def test_every_totes_module_a_glue_job_imports_is_in_the_zip(built):
    names = set(zipfile.ZipFile(built).namelist())
    for script in sorted((REPO_DIR / "glue_jobs").glob("*.py")):
        for module in _totes_imports(script):
            path = module.replace(".", "/")
            assert f"{path}.py" in names or f"{path}/__init__.py" in names, f"{script.name} imports {module}"


def test_zip_imports_alone(built, tmp_path):
    """Python imports the package from the zip, as Glue's --extra-py-files puts it on sys.path."""
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import totes, totes.settings, totes.zones; "
        "assert totes.__file__.startswith(sys.argv[1]), totes.__file__"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(built)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
