"""The local runtime runs the libraries AWS Glue 5.1 runs: each package Glue provides at Glue's version.

requirements-glue-5.1.txt is Glue's own list (base-requirements.txt of awslabs/aws-glue-libs, branch
glue-5.1); the JDBC driver's coordinate and checksum are in jvm-dependencies.txt.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import re
from pathlib import Path

from totes.local.spark import JARS_DIR, JvmDependency, local_jars, read_jvm_dependencies
from totes.settings import REPO_DIR

REQUIREMENTS = REPO_DIR / "requirements.txt"
GLUE_REQUIREMENTS = REPO_DIR / "requirements-glue-5.1.txt"
# The libraries the jobs import at run time: if one of them is not on both lists, the parsing below is wrong.
GLUE_RUNTIME_LIBRARIES = ("pyarrow", "numpy", "pandas", "boto3", "botocore")
# The PostgreSQL JDBC driver the AWS Glue JDBC documentation lists for Glue 5.1.
GLUE_POSTGRESQL_JDBC = "org.postgresql:postgresql:42.7.3"

_REQUIREMENT_LINE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(?P<spec>[^;#]*)")


def normalise_name(name: str) -> str:
    """A package name as pip compares them (PEP 503): case, runs of '-', '_' and '.' do not matter."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_requirement_lines(lines: list[str]) -> dict[str, str | None]:
    """Normalised package name -> the version pinned with ``==``, or None when no exact version is pinned."""
    pins = {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith(("#", "-")):
            continue
        match = _REQUIREMENT_LINE.match(line)
        spec = match["spec"].strip()
        pins[normalise_name(match["name"])] = spec[2:].strip() if spec.startswith("==") else None
    return pins


def read_pins(path: Path) -> dict[str, str | None]:
    return parse_requirement_lines(path.read_text().splitlines())


def glue_provided_pins() -> dict[str, tuple[str | None, str]]:
    """Each package of requirements.txt that Glue provides -> (our pin, Glue's version)."""
    glue = read_pins(GLUE_REQUIREMENTS)
    return {name: (pin, glue[name]) for name, pin in read_pins(REQUIREMENTS).items() if name in glue}


def test_requirement_names_are_compared_without_case_separators_or_extras():
    pins = parse_requirement_lines(["# a comment", "", "psycopg[binary]==3.2.12", "Typing_Extensions==4.15.0",
                                    "python.dateutil == 2.9.0.post0  # why", "duckdb>=1.4", "moto[server]"])

    assert pins == {"psycopg": "3.2.12", "typing-extensions": "4.15.0", "python-dateutil": "2.9.0.post0",
                    "duckdb": None, "moto": None}


def test_runtime_libraries_are_on_both_lists():
    provided = glue_provided_pins()

    assert [name for name in GLUE_RUNTIME_LIBRARIES if name not in provided] == []


def test_every_requirement_glue_provides_is_pinned_to_glues_version():
    drifted = [f"{name}: requirements.txt pins {pin or 'no exact version'}, Glue 5.1 ships {glue}"
               for name, (pin, glue) in sorted(glue_provided_pins().items()) if pin != glue]

    assert drifted == []


def test_installed_version_of_every_library_glue_provides_is_glues():
    def installed(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    drifted = [f"{name}: {installed(name)} installed, Glue 5.1 ships {glue}"
               for name, (_, glue) in sorted(glue_provided_pins().items()) if installed(name) != glue]

    assert drifted == []


def pinned_postgresql_jdbc() -> JvmDependency:
    [driver] = [dependency for dependency in read_jvm_dependencies()
                if (dependency.group, dependency.artifact) == ("org.postgresql", "postgresql")]
    return driver


def test_jdbc_driver_pinned_is_glues():
    assert pinned_postgresql_jdbc().coordinate == GLUE_POSTGRESQL_JDBC


def test_fetched_jars_have_their_pinned_checksums():
    pinned = {dependency.jar_name: dependency.sha256 for dependency in read_jvm_dependencies()}

    actual = {jar.name: hashlib.sha256(jar.read_bytes()).hexdigest() for jar in local_jars()}

    assert actual == pinned


def test_spark_loads_the_pinned_postgresql_jdbc_driver(spark):
    jvm = spark.sparkContext._jvm
    # spark.jars are on the context class loader, not on the one py4j resolves names with.
    loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
    driver_info = jvm.java.lang.Class.forName("org.postgresql.util.DriverInfo", True, loader)
    pinned = pinned_postgresql_jdbc()
    loaded_from = Path(driver_info.getProtectionDomain().getCodeSource().getLocation().getPath())

    assert driver_info.getField("DRIVER_VERSION").get(None) == pinned.version
    assert loaded_from == JARS_DIR / pinned.jar_name
