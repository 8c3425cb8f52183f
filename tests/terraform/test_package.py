"""`make package` (scripts/package.py): the zip Glue loads with --extra-py-files holds the package the jobs
import, without the local tooling, and is byte-for-byte reproducible so its filemd5 changes only with code."""

from __future__ import annotations

import ast
import json
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
    expected = sorted([
        p.relative_to(REPO_DIR).as_posix()
        for p in (REPO_DIR / "totes").rglob("*.py")
        if "__pycache__" not in p.parts and p.relative_to(REPO_DIR).parts[1] not in ("source", "local", "dashboard")
    ] + [f"totes/warehouse/sql/{p.name}" for p in (REPO_DIR / "sql" / "warehouse").glob("*.sql")])
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


def test_the_load_job_s_migrations_are_read_from_the_zip_alone(built, tmp_path):
    """On Glue there is no sql/ folder: the pre-flight's latest migration comes from the zip, the same files."""
    probe = (
        "import sys, json; sys.path.insert(0, sys.argv[1]); from totes.warehouse.migrations import discover; "
        "print(json.dumps([[m.version, m.script, m.checksum] for m in discover()]))"
    )
    result = subprocess.run([sys.executable, "-c", probe, str(built)], capture_output=True, text=True,
                            cwd=tmp_path, env={"PATH": "/usr/bin:/bin"}, timeout=60)
    assert result.returncode == 0, result.stderr
    sys.path.insert(0, str(REPO_DIR))
    from totes.warehouse.migrations import MIGRATIONS_DIR, discover

    in_checkout = [[m.version, m.script, m.checksum] for m in discover(MIGRATIONS_DIR)]
    assert in_checkout and json.loads(result.stdout) == in_checkout


# --- the wheels of the jobs' python_modules -----------------------------------------------------------------

GLUE_RUNTIME_MODULES = {"pyspark", "py4j", "awsglue"}  # the Glue runtime itself, beside its base requirements


@pytest.fixture(scope="module")
def wheels(package, tmp_path_factory):
    folder = tmp_path_factory.mktemp("dist") / "python-modules"
    return folder, package.build_wheels(folder)


def _imported_top_levels(script, seen=None) -> set[str]:
    """Top-level names a job script imports, through the totes modules it imports, at any depth (function-level
    imports included: they run on Glue all the same)."""
    seen = set() if seen is None else seen
    names = set()
    for node in ast.walk(ast.parse(script.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            continue
        for module in modules:
            if not module.startswith("totes"):
                names.add(module.split(".")[0])
                continue
            path = REPO_DIR / module.replace(".", "/")
            for candidate in (path.with_suffix(".py"), path / "__init__.py"):
                if candidate.is_file() and candidate not in seen:
                    seen.add(candidate)
                    names |= _imported_top_levels(candidate, seen)
    return names - set(sys.stdlib_module_names) - {"__future__"}


def test_each_job_ships_the_wheels_of_exactly_the_modules_glue_lacks(package, wheels):
    import importlib.metadata

    glue_provided = set(package.requirement_pins(REPO_DIR / "requirements-glue-5.1.txt"))
    distributions = importlib.metadata.packages_distributions()
    _, manifest = wheels
    for key, pins in manifest["jobs"].items():
        script = REPO_DIR / (package.json.loads((REPO_DIR / "workflow" / "workflow.json").read_text())
                             ["jobs"][key]["script"])
        needed = set()
        for name in _imported_top_levels(script) - GLUE_RUNTIME_MODULES:
            dists = {package._normalised(d) for d in distributions.get(name, [name])}
            if not dists & glue_provided:
                needed.add(name)
        shipped = {package._normalised(pin.split("==")[0].split("[")[0]) for pin in pins}
        assert needed == shipped, f"job {key} imports {sorted(needed)} beyond Glue; ships {sorted(shipped)}"


def test_wheels_are_for_glue_s_python_and_platform_and_leave_glue_s_own_packages_alone(wheels):
    folder, manifest = wheels
    names = sorted(path.name for path in folder.glob("*.whl"))
    assert names == sorted(manifest["sha256"])
    for name in names:
        tags = name.removesuffix(".whl").split("-")[-3:]
        assert tags[0] in ("py3", "cp311") and (tags[2] == "any" or "manylinux" in tags[2] and "x86_64" in tags[2])
    # typing_extensions, which psycopg needs, is Glue's own (4.15.0): no wheel of it.
    assert not any(name.startswith("typing_extensions") for name in names)
    assert set(manifest["wheels"]["psycopg[binary]==3.2.12"]) == {
        name for name in names if name.startswith(("psycopg-", "psycopg_binary-"))}


def test_wheels_are_the_same_bytes_on_every_build(package, wheels, tmp_path):
    _, first = wheels
    again = package.build_wheels(tmp_path / "python-modules")
    assert again == first


def test_the_wheels_install_without_an_index_and_import(wheels, tmp_path):
    """What Glue runs: pip with --no-index on the job's wheel files, then the job imports them."""
    folder, manifest = wheels
    target = tmp_path / "site"
    for pin, names in manifest["wheels"].items():
        if "pycountry" in pin:
            continue  # pure Python; psycopg's compiled wheel is the one that must match this interpreter
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--target",
                        str(target), *(str(folder / name) for name in names)], check=True, timeout=120)
    probe = "import sys; sys.path.insert(0, sys.argv[1]); import psycopg; print(psycopg.pq.__impl__)"
    result = subprocess.run([sys.executable, "-c", probe, str(target)], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "binary", result.stderr
