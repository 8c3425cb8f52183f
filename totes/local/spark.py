"""The Spark configuration the Glue runtime would give the jobs, for local runs and tests.

Glue provides the PostgreSQL JDBC driver and runs in UTC; locally the driver is the jar of Glue's version
listed in ``jvm-dependencies.txt`` (``make jdbc-driver`` fetches it) and the time zone is pinned here, so
timestamps without time zone read from the source keep their wall-clock value on both runtimes.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
from pathlib import Path

from totes import settings
from totes.spark_session import ICEBERG_SQL_EXTENSIONS, PIPELINE_SQL_CONF

JVM_DEPENDENCIES_FILE = settings.REPO_DIR / "jvm-dependencies.txt"
# Not under TOTES_LOCAL_DIR: tests and benchmarks point that at throwaway folders; the jars stay put.
JARS_DIR = Path(os.environ.get("TOTES_JARS_DIR", settings.REPO_DIR / ".local" / "jars"))

# The JIT's optimising compiler (C2) starts on a method after 5,000 calls by default. On two cores it then takes
# a core from the work: in a fresh JVM running a small-delta workflow, the C2 thread used ~10 s of CPU and C1
# ~3.6 s of a 17 s run. Thirty times the thresholds leave C2 the code that stays hot (row loops, encoders),
# which reaches them within a second anyway. Measured on this 2-core machine (README, "Benchmarks"): the full
# transformation at scale 105 8-10% faster, the full ingestion 7%, a cold small-delta workflow run ~8% (within
# its run-to-run noise).
# Local only: a Glue job's JVM is Glue's to configure.
JIT_OPTIONS = "-XX:Tier4InvocationThreshold=150000 -XX:Tier4CompileThreshold=450000 -XX:Tier4BackEdgeThreshold=1200000"


@dataclasses.dataclass(frozen=True)
class JvmDependency:
    """One jar of ``jvm-dependencies.txt``: its Maven coordinate and the SHA-256 the fetched jar must have."""

    group: str
    artifact: str
    version: str
    sha256: str

    @property
    def coordinate(self) -> str:
        return f"{self.group}:{self.artifact}:{self.version}"

    @property
    def jar_name(self) -> str:
        """The file name mvn's dependency:copy gives the jar."""
        return f"{self.artifact}-{self.version}.jar"


def read_jvm_dependencies(path: Path = JVM_DEPENDENCIES_FILE) -> list[JvmDependency]:
    """The jars of the manifest: one ``group:artifact:version sha256`` a line; ``#`` starts a comment."""
    dependencies = []
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        coordinate, sha256, *_ = line.split()
        group, artifact, version = coordinate.split(":")
        dependencies.append(JvmDependency(group, artifact, version, sha256))
    return dependencies


def local_jars(jars_dir: Path = JARS_DIR) -> list[Path]:
    """The fetched jars of ``jvm-dependencies.txt``; raises FileNotFoundError naming any that is missing."""
    jars = [jars_dir / dependency.jar_name for dependency in read_jvm_dependencies()]
    missing = [str(jar) for jar in jars if not jar.is_file()]
    if missing:
        raise FileNotFoundError(f"jars of {JVM_DEPENDENCIES_FILE.name} missing: {', '.join(missing)}; "
                                "`make jdbc-driver` fetches them")
    return jars


def local_spark_conf() -> dict[str, str]:
    conf = {
        "spark.master": os.environ.get("TOTES_SPARK_MASTER", "local[2]"),
        "spark.jars": ",".join(str(jar) for jar in local_jars()),
        "spark.driver.extraJavaOptions": f"-Duser.timezone=UTC {JIT_OPTIONS}",
        "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
        # Two cores: a handful of shuffle partitions beats the default 200 tiny tasks.
        "spark.sql.shuffle.partitions": os.environ.get("TOTES_SHUFFLE_PARTITIONS", "4"),
        "spark.ui.showConsoleProgress": "false",
        # The processed zone's Iceberg tables (totes/iceberg.py), as Terraform's --conf gives the Glue jobs.
        "spark.sql.extensions": ICEBERG_SQL_EXTENSIONS,
        "spark.ui.enabled": os.environ.get("TOTES_SPARK_UI", "false"),
        "spark.driver.memory": os.environ.get("TOTES_SPARK_DRIVER_MEMORY", "4g"),
        **PIPELINE_SQL_CONF,
    }
    event_log_dir = os.environ.get("TOTES_SPARK_EVENT_LOG_DIR")
    if event_log_dir:
        os.makedirs(event_log_dir, exist_ok=True)
        conf["spark.eventLog.enabled"] = "true"
        conf["spark.eventLog.dir"] = event_log_dir
    return conf


def configure_spark_submit() -> None:
    """Make a plain ``SparkContext.getOrCreate()`` (what a Glue script calls) start with the local conf.

    Only effective before the JVM starts; a session created earlier (tests, the runner) keeps its own conf.
    """
    if "PYSPARK_SUBMIT_ARGS" in os.environ:
        return
    conf = local_spark_conf()
    args = [f"--master {shlex.quote(conf.pop('spark.master'))}", f"--driver-memory {conf.pop('spark.driver.memory')}"]
    args += [f"--conf {shlex.quote(f'{key}={value}')}" for key, value in conf.items()]
    os.environ["PYSPARK_SUBMIT_ARGS"] = " ".join(args) + " pyspark-shell"


def get_local_spark(app_name: str = "totes-local"):
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    for key, value in local_spark_conf().items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
