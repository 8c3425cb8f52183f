"""The deploy rehearsal (``make rehearse``): the deployed shape of terraform/, run against a local AWS API emulator.

What a first deploy would run for the first time runs here first, with nothing of the checkout on the jobs'
path:

1. **Emulator**: moto's server on loopback (``scripts/local_aws.sh``; started here if none answers, stopped at
   the end if started here). Every client reaches it through configuration only: boto3 through the standard
   ``AWS_ENDPOINT_URL`` with test credentials and ``AWS_REGION``, Spark's S3A through Hadoop settings given to
   the driver as Glue gives a job its ``--conf``.
2. **Resources** with Terraform's names (``totes.local.deployed_shape``: evaluated by ``tofu console``):
   the buckets, the secrets holding the logins of throwaway source and warehouse databases on the local
   PostgreSQL, the catalog databases, the log groups and their metric filters, the failure rule with the
   pattern Terraform renders (its target an SQS queue: moto's EventBridge delivers to SQS, not to SNS), and
   the artifacts ``make package`` built, uploaded where ``artifacts.tf`` puts them.
3. **Cluster**: a Spark standalone master and two workers (``totes.local.spark_cluster``).
4. **Workflow**: ingest -> transform -> load by the workflow's triggers (``LocalWorkflowRunner``: retries,
   timeouts, conditional triggers), each job a process of its own, as a Glue driver is: the script downloaded
   from its ``script_location``, run with exactly its ``default_arguments``; ``--extra-py-files`` downloaded and
   put on the driver's path and shipped to the executors (``spark.submit.pyFiles``);
   ``--additional-python-modules`` downloaded and installed with pip and ``--python-modules-installer-option``
   (``--no-deps --target``: see :func:`install_python_modules`); ``--conf`` and ``--spark-event-logs-path``
   given to Spark. The driver's stdout and stderr go to ``<--custom-logGroup-prefix>/output`` (PutLogEvents,
   one stream per job run, as Glue names them), Spark's own log to ``.../error``.
5. **Checks**: a full run, a delta after the change simulator, the warehouse against the source (the
   end-to-end test's check), the metric filters' patterns over the delivered lines, a deliberately failed run's
   "Glue Job State Change" event through the rule (it must arrive, a success's must not); then a summary of
   what ran where.

Any cause that stops it is one line on stderr; whatever it started is stopped, its temporary folder and
databases removed. The ``make run`` stack (.local/zones, the local catalog, the totesys and warehouse
databases) is never touched.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from totes import logs, settings
from totes.local import metric_filters
from totes.local.alerts import job_state_change_event
from totes.local.deployed_shape import DeployedShape, Deployment, ShapeError, deployed_shape, terraform_variables
from totes.local.job_states import FAILED, SUCCEEDED
from totes.local.runner import JobRun, LocalWorkflowRunner
from totes.local.spark import JARS_DIR, read_jvm_dependencies
from totes.local.spark_cluster import ClusterError, SparkCluster
from totes.local.workflow import JobDefinition, Workflow, load_workflow

logger = logging.getLogger("totes.local")

DEFAULT_PORT = 55433
TEST_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
S3A_MANIFEST = settings.REPO_DIR / "jvm-dependencies-s3a.txt"
DIST_DIR = settings.REPO_DIR / "dist"
LOCAL_GLUE_DIR = settings.REPO_DIR / "local_glue"
# What each worker offers and each executor takes: 2 cores and 24 GiB here, shared with whatever else runs.
WORKER_MEMORY, EXECUTOR_MEMORY, DRIVER_MEMORY = "2g", "1g", "2g"
# Environment the job processes must not inherit: they would route secrets, catalog or logs to local files.
LOCAL_ONLY_ENV = ("PYTHONPATH", "TOTES_LOCAL_SECRETS_DIR", "TOTES_LOCAL_CATALOG_DIR", "TOTES_LOG_FILE",
                  "TOTES_LOG_CONSOLE", "PYSPARK_SUBMIT_ARGS", "TOTES_SPARK_EVENT_LOG_DIR")
_LOG_BATCH = 5000  # events per PutLogEvents (AWS allows 10,000 and 1 MB)


class RehearsalError(RuntimeError):
    """What stopped the rehearsal, in one line."""


class JobProcessFailed(RuntimeError):
    """A job's process ended with a non-zero status; the message is its last error line."""


def _one_line(text: str, limit: int = 400) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


# --- the emulator -------------------------------------------------------------------------------------------

def emulator_answers(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=3):
            return True
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class Emulator:
    endpoint: str
    started_here: bool = False
    port: int | None = None

    @classmethod
    def start(cls, port: int) -> "Emulator":
        endpoint = f"http://127.0.0.1:{port}"
        env = {**os.environ, "TOTES_AWS_PORT": str(port), "TOTES_PYTHON": sys.executable}
        already = emulator_answers(endpoint)
        result = subprocess.run([str(settings.REPO_DIR / "scripts" / "local_aws.sh"), "start"], env=env,
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise RehearsalError(_one_line(result.stderr.strip().splitlines()[-1] if result.stderr.strip()
                                           else "scripts/local_aws.sh start failed"))
        return cls(endpoint, started_here=not already, port=port)

    def reset(self) -> None:
        """The rehearsal owns the emulator's state: a full run must find no buckets of an earlier one."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10):
                pass
        except (urllib.error.URLError, OSError) as error:
            raise RehearsalError(f"the emulator at {self.endpoint} did not reset its state: {error}") from None

    def stop(self) -> None:
        if self.started_here:
            env = {**os.environ, "TOTES_AWS_PORT": str(self.port)}
            subprocess.run([str(settings.REPO_DIR / "scripts" / "local_aws.sh"), "stop"], env=env,
                           capture_output=True, text=True)


def aws_environment(endpoint: str, region: str) -> dict[str, str]:
    """What points every boto3 client at the emulator, by configuration only."""
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": region, "AWS_DEFAULT_REGION": region, **TEST_CREDENTIALS}


# --- provisioning -------------------------------------------------------------------------------------------

@contextlib.contextmanager
def _rejected(what: str):
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as error:
        details = error.response.get("Error", {})
        raise RehearsalError(f"the emulator rejected {what}: {details.get('Code', 'error')}: "
                             f"{_one_line(details.get('Message', ''), 200)}") from None
    except BotoCoreError as error:
        raise RehearsalError(f"the emulator did not answer {what}: {_one_line(str(error), 200)}") from None


@dataclass
class Provisioned:
    failure_queue_url: str = ""
    uploads: dict[str, int] = field(default_factory=dict)  # key -> bytes


def provision(shape: DeployedShape, source_login, warehouse_login) -> Provisioned:
    import boto3

    region = shape.deployment.region
    s3 = boto3.client("s3")
    for bucket in shape.bucket_names.values():
        with _rejected(f"CreateBucket {bucket}"):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    secretsmanager = boto3.client("secretsmanager")
    for key, login in (("source", source_login), ("warehouse", warehouse_login)):
        name = shape.secret_names[key]
        with _rejected(f"CreateSecret {name}"):
            secretsmanager.create_secret(Name=name, SecretString=json.dumps(dataclasses.asdict(login)))
    glue = boto3.client("glue")
    for database in shape.catalog_databases.values():
        with _rejected(f"CreateDatabase {database['name']}"):
            glue.create_database(DatabaseInput={"Name": database["name"], "Description": database["description"]})
    logs_client = boto3.client("logs")
    for group in shape.log_groups.values():
        with _rejected(f"CreateLogGroup {group}"):
            logs_client.create_log_group(logGroupName=group)
    for key, prefix in shape.job_log_group_prefixes.items():
        for metric, spec in shape.log_metrics.items():
            with _rejected(f"PutMetricFilter {metric} on {prefix}/output"):
                logs_client.put_metric_filter(
                    logGroupName=f"{prefix}/output", filterName=f"{shape.deployment.name_prefix}-{key}-{metric}",
                    filterPattern=spec["pattern"],
                    metricTransformations=[{"metricNamespace": f"{shape.deployment.project}/"
                                                               f"{shape.deployment.environment}",
                                            "metricName": metric, "metricValue": spec["value"],
                                            "dimensions": {"JobName": "$.job"}}])
    provisioned = Provisioned()
    sqs, events = boto3.client("sqs"), boto3.client("events")
    with _rejected(f"CreateQueue / PutRule / PutTargets {shape.failure_rule_name}"):
        queue_url = sqs.create_queue(QueueName=f"{shape.failure_rule_name}-target")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name=shape.failure_rule_name, EventPattern=shape.failure_event_pattern, State="ENABLED")
        events.put_targets(Rule=shape.failure_rule_name, Targets=[{"Id": "alerts", "Arn": queue_arn}])
    provisioned.failure_queue_url = queue_url
    artifacts = shape.bucket_names["artifacts"]
    for key, relative in sorted(shape.uploads.items()):
        path = settings.REPO_DIR / relative
        if not path.is_file():
            raise RehearsalError(f"{relative} missing: `make package` builds it")
        with _rejected(f"PutObject s3://{artifacts}/{key}"):
            s3.upload_file(str(path), artifacts, key)
        provisioned.uploads[key] = path.stat().st_size
    return provisioned


# --- the Glue runtime's part --------------------------------------------------------------------------------

def _s3_download(uri: str, target: Path) -> Path:
    import boto3

    parsed = urlparse(uri)
    target.parent.mkdir(parents=True, exist_ok=True)
    with _rejected(f"GetObject {uri}"):
        boto3.client("s3").download_file(parsed.netloc, parsed.path.lstrip("/"), str(target))
    return target


def install_python_modules(wheels: list[Path], installer_options: str, target: Path) -> None:
    """``--additional-python-modules`` as pip installs them, with the job's installer options.

    Glue runs pip3 in the job's own environment, where the modules Glue provides satisfy the wheels'
    dependencies (psycopg's typing_extensions, left to Glue by ``make package``). Here the modules go to a
    folder of their own (``--target``) ahead of the runtime's, where pip cannot see the runtime's modules, so
    it installs with ``--no-deps`` and then ``pip check`` verifies every dependency is met by the runtime.
    """
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
         "--target", str(target), *shlex.split(installer_options), *map(str, wheels)],
        capture_output=True, text=True)
    if result.returncode != 0:
        raise RehearsalError(f"pip could not install {', '.join(w.name for w in wheels)}: "
                             f"{_one_line(result.stderr, 300)}")
    check = subprocess.run([sys.executable, "-m", "pip", "check", "--disable-pip-version-check"],
                           capture_output=True, text=True, env={**_clean_env(), "PYTHONPATH": str(target)})
    installed = {wheel.name.split("-")[0].lower() for wheel in wheels}
    broken = [line for line in check.stdout.splitlines() if line.split(" ")[0].replace("-", "_").lower() in installed]
    if broken:
        raise RehearsalError(f"the jobs' wheels need what the runtime lacks: {'; '.join(broken)}")


def _clean_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key not in LOCAL_ONLY_ENV}


@dataclass
class JobRuntime:
    """What Glue prepares for a job before its script starts: the script, the library, the modules."""

    script: Path
    library: Path
    modules_dir: Path


@dataclass
class ProcessRecord:
    job_name: str
    job_run_id: str
    pid: int
    returncode: int
    seconds: float
    output_lines: int
    error_lines: int
    output_group: str


class JobProcesses:
    """Runs each job run as its own driver process against the cluster, as Glue starts a job's driver."""

    def __init__(self, shape: DeployedShape, cluster: SparkCluster, endpoint: str, work_dir: Path,
                 job_logs_dir: Path | None = None):
        self.job_logs_dir = job_logs_dir
        self.shape = shape
        self.cluster = cluster
        self.endpoint = endpoint
        self.work_dir = work_dir
        self.jobs_by_name = {job.name: job for job in shape.jobs.values()}
        self.runtimes: dict[str, JobRuntime] = {}
        self.records: list[ProcessRecord] = []
        self.delivered: dict[str, list[str]] = {}  # job run id -> the output lines delivered
        self.argument_overrides: dict[str, dict[str, str]] = {}  # job name -> arguments to change (a failure)
        self.running: set[subprocess.Popen] = set()

    def stop_running(self) -> None:
        """End every job process still running (the rehearsal itself is ending)."""
        for process in list(self.running):
            _end_process_group(process)

    def runtime(self, job_name: str) -> JobRuntime:
        if job_name in self.runtimes:
            return self.runtimes[job_name]
        job = self.jobs_by_name[job_name]
        folder = self.work_dir / "glue-runtime" / job.key
        script = _s3_download(job.script_location, folder / "script" / Path(job.script).name)
        library = _s3_download(job.arguments["--extra-py-files"], folder / "lib" / "totes.zip")
        modules = job.arguments.get("--additional-python-modules", "")
        modules_dir = folder / "python-modules"
        if modules:
            wheels = [_s3_download(uri, folder / "wheels" / Path(urlparse(uri).path).name) for uri in modules.split(",")]
            install_python_modules(wheels, job.arguments.get("--python-modules-installer-option", ""), modules_dir)
        modules_dir.mkdir(parents=True, exist_ok=True)
        event_logs = job.arguments.get("--spark-event-logs-path")
        if event_logs:
            # Spark writes its event log only into a folder that exists: Terraform creates each job's folder
            # (artifacts.tf, spark_event_log_folder), and so does the rehearsal.
            import boto3

            parsed = urlparse(event_logs)
            with _rejected(f"PutObject {event_logs}"):
                boto3.client("s3").put_object(Bucket=parsed.netloc, Key=parsed.path.strip("/") + "/", Body=b"")
        self.runtimes[job_name] = JobRuntime(script, library, modules_dir)
        return self.runtimes[job_name]

    def spark_conf(self, job, runtime: JobRuntime, log4j: Path) -> dict[str, str]:
        jars = [JARS_DIR / dependency.jar_name
                for manifest in (settings.REPO_DIR / "jvm-dependencies.txt", S3A_MANIFEST)
                for dependency in read_jvm_dependencies(manifest)]
        conf = {
            "spark.master": self.cluster.master_url,
            "spark.jars": ",".join(map(str, jars)),
            "spark.submit.pyFiles": str(runtime.library),
            # Glue installs --additional-python-modules on every node; these executors share this machine.
            "spark.executorEnv.PYTHONPATH": str(runtime.modules_dir),
            "spark.executorEnv.TZ": "UTC",
            "spark.executor.memory": EXECUTOR_MEMORY,
            "spark.executor.cores": "1",
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.driver.extraJavaOptions": f"-Duser.timezone=UTC -Dlog4j2.configurationFile=file:{log4j}",
            "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
            "spark.sql.shuffle.partitions": "4",
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            # Glue 5's runtime reads s3:// through S3A.
            "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
            # The emulator, as any job's --conf would point S3A at an endpoint.
            "spark.hadoop.fs.s3a.endpoint": self.endpoint,
            "spark.hadoop.fs.s3a.path.style.access": "true",
            "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
            "spark.hadoop.fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
            "spark.hadoop.fs.s3a.access.key": TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "spark.hadoop.fs.s3a.secret.key": TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        }
        # Iceberg's S3FileIO writes the processed zone's data files from the executors, with the AWS SDK's own
        # credentials and Region: on Glue the job role's on every node, here the drivers' test environment (the
        # endpoint travels with the catalog's properties: totes/iceberg.py).
        for key, value in aws_environment(self.endpoint, self.shape.deployment.region).items():
            if key != "AWS_ENDPOINT_URL":
                conf[f"spark.executorEnv.{key}"] = value
        arguments = job.arguments
        if arguments.get("--enable-spark-ui") == "true" and arguments.get("--spark-event-logs-path"):
            conf["spark.eventLog.enabled"] = "true"
            conf["spark.eventLog.dir"] = arguments["--spark-event-logs-path"]
        if arguments.get("--conf"):
            # Glue's --conf value is "key=value", further ones joined with " --conf ".
            for setting in arguments["--conf"].split(" --conf "):
                key, _, value = setting.partition("=")
                conf[key.strip()] = value.strip()
        return conf

    def __call__(self, _script: Path, argv: list[str]) -> None:
        """The runner's ``run_script``: one job run, its own process; raises if the process failed."""
        job_name = argv[argv.index("--JOB_NAME") + 1]
        job_run_id = argv[argv.index("--JOB_RUN_ID") + 1]
        job = self.jobs_by_name[job_name]
        runtime = self.runtime(job_name)
        run_dir = self.work_dir / "runs" / job_run_id
        run_dir.mkdir(parents=True)
        spark_log = run_dir / "spark-driver.log"
        log4j = run_dir / "log4j2.properties"
        log4j.write_text(
            "rootLogger.level = warn\nrootLogger.appenderRef.file.ref = file\nappender.file.type = File\n"
            f"appender.file.name = file\nappender.file.fileName = {spark_log}\nappender.file.layout.type = "
            "PatternLayout\nappender.file.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n\n")
        conf = self.spark_conf(job, runtime, log4j)
        submit = [f"--master {shlex.quote(conf.pop('spark.master'))}", f"--driver-memory {DRIVER_MEMORY}"]
        submit += [f"--conf {shlex.quote(f'{key}={value}')}" for key, value in conf.items()]
        argv = list(argv[1:])
        for name, value in self.argument_overrides.get(job_name, {}).items():
            argv[argv.index(name) + 1] = value
        env = {**_clean_env(), **aws_environment(self.endpoint, self.shape.deployment.region),
               # The Glue runtime (awsglue), the job's library and its modules; nothing of the checkout's totes.
               "PYTHONPATH": os.pathsep.join([str(runtime.modules_dir), str(runtime.library), str(LOCAL_GLUE_DIR)]),
               "PYSPARK_SUBMIT_ARGS": " ".join(submit) + " pyspark-shell",
               "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1", "TZ": "UTC"}
        lines: list[tuple[int, str]] = []
        started = time.monotonic()
        process = subprocess.Popen([sys.executable, str(runtime.script), *argv], cwd=run_dir, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   text=True, start_new_session=True)
        self.running.add(process)
        reader = threading.Thread(target=_collect, args=(process.stdout, lines), daemon=True)
        reader.start()
        try:
            while process.poll() is None:
                time.sleep(0.2)  # the runner may raise a stop or timeout into this thread here
        finally:
            _end_process_group(process)
            self.running.discard(process)
            reader.join(timeout=10)
            output_group = f"{job.arguments['--custom-logGroup-prefix']}/output"
            error_lines = spark_log.read_text(errors="replace").splitlines() if spark_log.exists() else []
            deliver_log_lines(output_group, job_run_id, lines)
            deliver_log_lines(f"{job.arguments['--custom-logGroup-prefix']}/error", job_run_id,
                              [(int(time.time() * 1000), line) for line in error_lines])
            self.delivered[job_run_id] = [line for _, line in lines]
            self.records.append(ProcessRecord(job_name, job_run_id, process.pid, process.returncode,
                                              round(time.monotonic() - started, 1), len(lines), len(error_lines),
                                              output_group))
        if self.job_logs_dir is not None:
            self.job_logs_dir.mkdir(parents=True, exist_ok=True)
            (self.job_logs_dir / f"{job_name}-{job_run_id}.log").write_text("\n".join(line for _, line in lines) + "\n")
        if process.returncode != 0:
            raise JobProcessFailed(f"exit status {process.returncode}: {_failure_line([line for _, line in lines])}")


def _end_process_group(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=15)
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)\b.*")


def _failure_line(lines: list[str]) -> str:
    """What failed, in one line: the job's own "job failed" event, else the last Python exception line."""
    for line in reversed(lines):
        with contextlib.suppress(ValueError):
            event = json.loads(line)
            if isinstance(event, dict) and event.get("level") == "ERROR" and event.get("error"):
                return _one_line(f"{event.get('error_type', 'Error')}: {event['error']}", 300)
    for line in reversed(lines):
        if _EXCEPTION_LINE.match(line):
            return _one_line(line, 300)
    return _one_line(next((line for line in reversed(lines) if line.strip()), "no output"), 300)


def _collect(stream, lines: list[tuple[int, str]]) -> None:
    for line in stream:
        lines.append((int(time.time() * 1000), line.rstrip("\n")))


def deliver_log_lines(group: str, stream: str, lines: list[tuple[int, str]]) -> None:
    """PutLogEvents of the captured lines, in one stream named after the job run, as Glue names them."""
    import boto3

    client = boto3.client("logs")
    with _rejected(f"CreateLogStream {group}:{stream}"):
        client.create_log_stream(logGroupName=group, logStreamName=stream)
    events = [{"timestamp": stamp, "message": line} for stamp, line in lines if line]
    for start in range(0, len(events), _LOG_BATCH):
        with _rejected(f"PutLogEvents {group}:{stream}"):
            client.put_log_events(logGroupName=group, logStreamName=stream,
                                  logEvents=events[start:start + _LOG_BATCH])


# --- events -------------------------------------------------------------------------------------------------

class EmulatorEventBus:
    """The runner's event bus: each ended job run's "Glue Job State Change" event put to the emulator's
    EventBridge, where the failure rule decides; what the rule delivered is read back from its queue."""

    def __init__(self, shape: DeployedShape, queue_url: str):
        self.shape = shape
        self.queue_url = queue_url
        self.published: list[dict] = []

    def publish_job_run(self, job_run: JobRun, workflow_name: str | None = None) -> None:
        import boto3

        event = job_state_change_event(job_run, account=self.shape.deployment.account_id,
                                       region=self.shape.deployment.region)
        with _rejected(f"PutEvents {event['detail-type']} of {job_run.JobName}"):
            answer = boto3.client("events").put_events(Entries=[{
                "Source": event["source"], "DetailType": event["detail-type"], "Detail": json.dumps(event["detail"]),
                "Resources": event["resources"]}])
        if answer.get("FailedEntryCount"):
            raise RehearsalError(f"EventBridge refused the event of {job_run.JobName}: {answer['Entries']}")
        self.published.append(event)

    def publish_quality(self, job_run: JobRun, arguments: dict[str, str]) -> None:
        """Nothing to do: in the deployed shape the transformation job puts its quality report into the
        emulator's CloudWatch itself, and the quarantine alarm, not an event, alerts on it."""

    def delivered(self) -> list[dict]:
        import boto3

        sqs, found = boto3.client("sqs"), []
        while True:
            with _rejected("ReceiveMessage of the failure rule's target"):
                messages = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10,
                                               WaitTimeSeconds=0).get("Messages", [])
            if not messages:
                return found
            for message in messages:
                found.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


# --- databases ----------------------------------------------------------------------------------------------

@dataclass
class Databases:
    owner: object
    reader: object
    warehouse: object
    names: tuple[str, str]

    @classmethod
    @contextlib.contextmanager
    def throwaway(cls, scale: float, seed: int):
        """A source seeded at ``scale`` and a migrated warehouse, both new databases, dropped afterwards."""
        from totes.secrets import LocalSecretProvider, SecretError
        from totes.source.database import connect as source_connect
        from totes.source.database import create_database, create_schema, drop_database
        from totes.source.generator import generate
        from totes.warehouse.database import connect as warehouse_connect
        from totes.warehouse.migrations import migrate

        provider = LocalSecretProvider(settings.LOCAL_SECRETS_DIR)
        try:
            owner = provider.get_database_credentials(settings.SOURCE_OWNER_SECRET_ID)
            reader = provider.get_database_credentials(settings.SOURCE_SECRET_ID)
            loader = provider.get_database_credentials(settings.WAREHOUSE_SECRET_ID)
        except SecretError as error:
            raise RehearsalError(f"{error} (`make db-up` writes the local logins)") from None
        suffix = secrets.token_hex(4)
        source_name, warehouse_name = f"rehearsal_source_{suffix}", f"rehearsal_warehouse_{suffix}"
        made: list[tuple[object, str]] = []
        try:
            try:
                source = create_database(owner, source_name)
                made.append((owner, source_name))
                warehouse = create_database(loader, warehouse_name)
                made.append((loader, warehouse_name))
            except Exception as error:  # noqa: BLE001 - any connection problem is the one line to report
                raise RehearsalError(f"cannot create the throwaway databases on {owner.host}:{owner.port}: "
                                     f"{_one_line(str(error), 200)} (`make db-up` starts the server)") from None
            with source_connect(source) as conn:
                create_schema(conn)
                generate(conn, scale=scale, seed=seed)
            with warehouse_connect(warehouse) as conn:
                migrate(conn)
            yield cls(source, dataclasses.replace(reader, dbname=source_name), warehouse,
                      (source_name, warehouse_name))
        finally:
            for login, name in reversed(made):
                with contextlib.suppress(Exception):
                    drop_database(login, name)


# --- the run ------------------------------------------------------------------------------------------------

def rehearsal_workflow(shape: DeployedShape, scripts: dict[str, Path]) -> Workflow:
    """The workflow of workflow.json with Terraform's job names, arguments and the downloaded scripts."""
    rendered = load_workflow(terraform_variables(shape.deployment))
    jobs = {key: JobDefinition(key=key, name=job.name, script=scripts[key], max_retries=job.max_retries,
                               timeout_minutes=job.timeout_minutes, arguments=dict(job.arguments))
            for key, job in shape.jobs.items()}
    return Workflow(shape.workflow_name, rendered.max_concurrent_runs, jobs, rendered.triggers)


def check_metric_filters(shape: DeployedShape, processes: JobProcesses, runs: list[JobRun]) -> list[str]:
    """Every metric of monitoring.tf over each run's delivered lines, as CloudWatch would publish it."""
    import boto3

    client = boto3.client("logs")
    problems, report = [], []
    for run in runs:
        lines = processes.delivered.get(run.Id, [])
        group = f"/aws-glue/jobs/{run.JobName}/output"
        with _rejected(f"FilterLogEvents {group}"):
            stored = client.filter_log_events(logGroupName=group, logStreamNames=[run.Id])["events"]
        if len(stored) != len([line for line in lines if line]):
            problems.append(f"{group}:{run.Id} holds {len(stored)} events, {len(lines)} were delivered")
        values = {metric: metric_filters.metric_value(spec["pattern"], spec["value"], [e["message"] for e in stored])
                  for metric, spec in shape.log_metrics.items()}
        report.append(f"{run.JobName} {run.Id[:14]} {run.JobRunState}: "
                      + ", ".join(f"{metric}={value:g}" for metric, value in values.items()))
        if run.JobRunState == SUCCEEDED:
            expected = {"RunsStarted": 1, "RunsSucceeded": 1, "RunsFailed": 0, "ErrorLogLines": 0}
        else:
            expected = {"RunsSucceeded": 0}
        for metric, value in expected.items():
            if values.get(metric) != value:
                problems.append(f"{run.JobName} {run.Id}: metric {metric} is {values.get(metric):g}, expected {value}")
        if run.JobRunState != SUCCEEDED and values.get("ErrorLogLines", 0) < 1:
            problems.append(f"{run.JobName} {run.Id} failed but metric ErrorLogLines saw no ERROR line")
    if problems:
        raise RehearsalError("metric filters: " + "; ".join(problems))
    return report


def check_warehouse(databases: Databases, versions_seen: dict) -> None:
    # The end-to-end test's own check, so both say the same thing of "the warehouse equals the source".
    from tests.e2e.conftest import check_warehouse_against_source

    try:
        check_warehouse_against_source(databases.owner, databases.warehouse, versions_seen)
    except AssertionError as error:
        raise RehearsalError(f"the warehouse does not match the source: {_one_line(str(error), 300)}") from None


@dataclass
class Timings:
    seconds: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def measure(self, name: str):
        started = time.monotonic()
        yield
        self.seconds[name] = round(time.monotonic() - started, 1)


def _check_prerequisites() -> None:
    for manifest in (settings.REPO_DIR / "jvm-dependencies.txt", S3A_MANIFEST):
        for dependency in read_jvm_dependencies(manifest):
            if not (JARS_DIR / dependency.jar_name).is_file():
                raise RehearsalError(f"{JARS_DIR / dependency.jar_name} missing: `make rehearsal-jars` "
                                     f"(and `make jdbc-driver`) fetch {manifest.name}'s jars with mvn")
    for relative in ("dist/totes.zip", "dist/python-modules.json"):
        if not (settings.REPO_DIR / relative).is_file():
            raise RehearsalError(f"{relative} missing: `make package` builds it")
    if shutil.which("java") is None:
        raise RehearsalError("java not found: Spark needs a JRE (Debian: openjdk-17-jre-headless)")


def rehearse(endpoint: str | None, port: int, scale: float, seed: int, out=sys.stdout,
             job_logs_dir: Path | None = None) -> dict:
    """The whole rehearsal; returns what ran where. Raises RehearsalError with the one line that stopped it."""
    timings = Timings()
    started = time.monotonic()
    _check_prerequisites()
    try:
        shape = deployed_shape(Deployment())
    except ShapeError as error:
        raise RehearsalError(str(error)) from None
    with contextlib.ExitStack() as cleanup:
        if endpoint:
            if not emulator_answers(endpoint):
                raise RehearsalError(f"no AWS API emulator answers at {endpoint} (`make aws-up` starts one)")
            emulator = Emulator(endpoint)
        else:
            emulator = Emulator.start(port)
            cleanup.callback(emulator.stop)
        emulator.reset()
        saved_env = {key: os.environ.get(key) for key in (*aws_environment("", ""), *LOCAL_ONLY_ENV)}
        cleanup.callback(_restore_env, saved_env)
        for key in LOCAL_ONLY_ENV:
            if key != "TOTES_LOG_CONSOLE":  # the rehearsal's own console; its jobs' output stays JSON
                os.environ.pop(key, None)
        os.environ.update(aws_environment(emulator.endpoint, shape.deployment.region))
        work_dir = Path(tempfile.mkdtemp(prefix="totes-rehearsal-"))
        cleanup.callback(shutil.rmtree, work_dir, True)

        with timings.measure("databases"):
            databases = cleanup.enter_context(Databases.throwaway(scale, seed))
        with timings.measure("provision"):
            provisioned = provision(shape, databases.reader, databases.warehouse)
        with timings.measure("cluster start"):
            try:
                cluster = cleanup.enter_context(SparkCluster(work_dir / "spark", workers=2, cores_per_worker=1,
                                                             memory_per_worker=WORKER_MEMORY, python=sys.executable))
            except ClusterError as error:
                raise RehearsalError(str(error)) from None
        processes = JobProcesses(shape, cluster, emulator.endpoint, work_dir, job_logs_dir)
        cleanup.callback(processes.stop_running)
        with timings.measure("glue runtime (download, pip)"):
            scripts = {key: processes.runtime(job.name).script for key, job in shape.jobs.items()}
        bus = EmulatorEventBus(shape, provisioned.failure_queue_url)
        workflow = rehearsal_workflow(shape, scripts)
        runner = LocalWorkflowRunner(workflow, state_dir=work_dir / "state", run_script=processes, event_bus=bus)
        versions_seen: dict = {fact: set() for fact in _facts()}

        results = []
        for name in ("full workflow", "delta workflow"):
            if name == "delta workflow":
                _simulate(databases)
            with timings.measure(name):
                result = runner.run()
            results.append(result)
            if not result.succeeded:
                failed = [run for run in result.job_runs if run.JobRunState != SUCCEEDED]
                raise RehearsalError(f"{name}: {failed[-1].JobName} {failed[-1].JobRunState}: "
                                     f"{_one_line(failed[-1].ErrorMessage or '', 300)}")
            check_warehouse(databases, versions_seen)
        if bus.delivered():
            raise RehearsalError("the failure rule delivered the event of a job run that succeeded")

        # A deliberately failed run: the load with a secret that does not exist.
        load = shape.jobs["load"]
        processes.argument_overrides[load.name] = {"--warehouse-secret-id": f"{shape.deployment.name_prefix}/no-such-secret"}
        failing = Workflow(workflow.name, 1, {"load": dataclasses.replace(workflow.jobs["load"], max_retries=0)},
                           [dataclasses.replace(workflow.start_trigger, actions=["load"])])
        with timings.measure("failed run"):
            failed_result = LocalWorkflowRunner(failing, state_dir=work_dir / "state-failure", run_script=processes,
                                                event_bus=bus).run()
        delivered = bus.delivered()
        failed_ids = [run.Id for run in failed_result.job_runs if run.JobRunState == FAILED]
        if not failed_ids or [event["detail"]["jobRunId"] for event in delivered] != failed_ids:
            raise RehearsalError(f"the failure rule delivered {len(delivered)} events for the failed runs {failed_ids}")
        all_runs = [run for result in (*results, failed_result) for run in result.job_runs]
        metrics = check_metric_filters(shape, processes, all_runs)
        summary = _summary(shape, emulator, cluster, processes, all_runs, metrics, delivered, databases, timings,
                           provisioned)
        summary["work folder"] = f"{work_dir} (removed at the end)"
        timings.seconds["whole rehearsal"] = round(time.monotonic() - started, 1)
        out.write(_format_summary(summary, timings))
        return {"summary": summary, "timings": timings.seconds}


def _facts():
    from tests.e2e.conftest import VERSIONS_IN_SOURCE

    return VERSIONS_IN_SOURCE


def _simulate(databases: Databases) -> None:
    """The change simulator (``python -m totes.source simulate``) on the throwaway source."""
    from totes.source.database import connect as source_connect
    from totes.source.simulator import simulate

    with source_connect(databases.owner) as conn:
        simulate(conn, seed=7, new_sales_orders=6, new_purchase_orders=3, payments_to_mark_paid=12)


def _restore_env(saved: dict[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _summary(shape, emulator, cluster, processes, runs, metrics, delivered, databases, timings, provisioned) -> dict:
    import boto3

    glue = boto3.client("glue")
    listed = {database["name"]: glue.get_tables(DatabaseName=database["name"])["TableList"]
              for database in shape.catalog_databases.values()}
    tables = {name: len(table_list) for name, table_list in listed.items()}
    # The processed zone's tables as Iceberg's Glue catalog registered them: Iceberg tables whose metadata the
    # jobs wrote into the processed bucket.
    processed = shape.catalog_databases["processed"]
    iceberg = [table for table in listed[processed["name"]]
               if table.get("Parameters", {}).get("table_type", "").upper() == "ICEBERG"
               and table["Parameters"].get("metadata_location", "").startswith(processed["zone"].rstrip("/") + "/")]
    s3 = boto3.client("s3")
    objects = {}
    for key, bucket in shape.bucket_names.items():
        count = 0
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            count += len(page.get("Contents", []))
        objects[bucket] = count
    return {
        "names evaluated by": shape.evaluated_by,
        "emulator": f"{emulator.endpoint} ({'started by the rehearsal' if emulator.started_here else 'already running'})",
        "spark master": f"{cluster.master_url} (pids {cluster.pids()})",
        "rehearsal driver": f"pid {os.getpid()}",
        "job processes": [dataclasses.asdict(record) for record in processes.records],
        "job runs": [f"{run.JobName} {run.Id} {run.JobRunState} {run.ExecutionTime:.1f} s" for run in runs],
        "buckets (objects)": objects,
        "catalog tables": tables,
        "iceberg tables": f"{len(iceberg)} in {processed['name']}, metadata under {processed['zone']}",
        "secrets": {key: shape.secret_names[key] for key in ("source", "warehouse")},
        "databases": {"source": databases.names[0], "warehouse": databases.names[1],
                      "server": f"{databases.owner.host}:{databases.owner.port}"},
        "metric filters": metrics,
        "failure rule": f"{shape.failure_rule_name}: delivered {len(delivered)} event(s), "
                        f"{[event['detail']['state'] for event in delivered]}",
        "uploads": provisioned.uploads,
    }


def _format_summary(summary: dict, timings: Timings) -> str:
    lines = ["", "Deploy rehearsal: what ran where"]
    for key in ("names evaluated by", "emulator", "spark master", "rehearsal driver", "work folder"):
        lines.append(f"  {key:<20} {summary[key]}")
    lines.append("  job processes (each a Spark driver of its own, against the master; stdout/stderr -> log group)")
    for record in summary["job processes"]:
        lines.append(f"    pid {record['pid']:<7} {record['job_name']:<22} {record['job_run_id'][:20]:<20} exit "
                     f"{record['returncode']:<3} {record['seconds']:>6.1f} s  {record['output_lines']} lines -> "
                     f"{record['output_group']}")
    lines.append("  buckets (objects)")
    lines += [f"    {bucket}: {count}" for bucket, count in summary["buckets (objects)"].items()]
    lines.append(f"  catalog tables       {summary['catalog tables']}")
    lines.append(f"  iceberg tables       {summary['iceberg tables']}")
    lines.append(f"  secrets              {summary['secrets']}")
    lines.append(f"  databases            {summary['databases']}")
    lines.append("  metric filters (monitoring.tf's patterns over each run's delivered lines)")
    lines += [f"    {line}" for line in summary["metric filters"]]
    lines.append(f"  failure rule         {summary['failure rule']}")
    lines.append("  seconds              " + ", ".join(f"{k} {v:g}" for k, v in timings.seconds.items()))
    lines.append("  warehouse = source after the full and the delta workflow: yes")
    return "\n".join(lines) + "\n"


def _terminate(_signal_number, _frame) -> None:
    raise KeyboardInterrupt("SIGTERM")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", help="an emulator already running (default: start one on --port)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("TOTES_AWS_PORT", DEFAULT_PORT)))
    parser.add_argument("--scale", type=float, default=0.02, help="source size (1 = the real totesys)")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--job-logs", type=Path, help="also keep each job run's output lines in this folder")
    args = parser.parse_args(argv)
    os.environ.setdefault("TOTES_LOG_CONSOLE", "text")
    # SIGTERM (a CI timeout, kill) unwinds like Ctrl-C, so that everything started is stopped.
    previous_handler = signal.signal(signal.SIGTERM, _terminate)
    logs.configure(job="rehearsal")
    try:
        rehearse(args.endpoint, args.port, args.scale, args.seed, job_logs_dir=args.job_logs)
    except RehearsalError as error:
        sys.stderr.write(f"rehearse: {error}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("rehearse: interrupted (SIGINT or SIGTERM); everything it started is stopped\n")
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
