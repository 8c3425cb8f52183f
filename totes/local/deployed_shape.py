"""The deployed shape of terraform/: the names, job arguments and patterns a `terraform apply` would create.

The deploy rehearsal (``totes.local.rehearsal``) builds these resources in an AWS API emulator and runs the jobs
with exactly these arguments. Terraform's AWS provider cannot be obtained here, so no plan or apply computes
them; instead ``tofu console`` (OpenTofu, built here from its Go module: ``totes.local.tofu``) evaluates the
configuration's own expressions (like ``tests/terraform/test_tf_evaluate.py``): ``locals.tf`` with the data sources replaced by
the rehearsal's account and Region, the ``locals`` blocks of ``artifacts.tf`` and ``monitoring.tf``, and each
Glue job's ``default_arguments`` and script location from ``glue_jobs.tf`` (read with python-hcl2), with the
uploaded objects' attributes replaced by their buckets and keys as ``artifacts.tf`` defines them. Without Go
to build OpenTofu with, :func:`deployed_shape` says so in one line. The local runtime's own
rendering of ``workflow/workflow.json`` with the variables ``locals.tf`` passes to ``templatefile``
(:func:`python_rendered_jobs`) must agree with Terraform's, or the shape is refused.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from totes.local.tofu import ToolUnavailableError, tofu_binary
from totes.local.workflow import failure_event_pattern, load_workflow
from totes.settings import REPO_DIR

TERRAFORM_DIR = REPO_DIR / "terraform"
_TOP_LEVEL_LOCALS = re.compile(r"^locals \{\n.*?^\}\n", re.M | re.S)
_RESOURCE_REFERENCE = re.compile(r"(?<![.\w])aws_[a-z0-9_]+\.[a-z_]+")


class ShapeError(RuntimeError):
    """The configuration could not be evaluated; the message names what failed."""


@dataclass(frozen=True)
class Deployment:
    """The variables of one deployment, within what terraform/variables.tf allows."""

    project: str = "totesys"
    environment: str = "dev"
    region: str = "eu-west-2"
    account_id: str = "123456789012"  # moto's default account, so the emulator's ARNs are this deployment's

    @property
    def name_prefix(self) -> str:
        return f"{self.project}-{self.environment}"


@dataclass(frozen=True)
class JobShape:
    key: str
    name: str
    script: str  # repository-relative, as workflow.json names it
    script_location: str  # s3://<artifacts>/glue_jobs/<script>
    max_retries: int
    timeout_minutes: int
    arguments: dict[str, str]  # the job's default_arguments: workflow.json's plus glue_jobs.tf's


@dataclass(frozen=True)
class DeployedShape:
    deployment: Deployment
    evaluated_by: str  # "tofu console (<binary>)"
    bucket_names: dict[str, str]
    secret_names: dict[str, str]
    catalog_databases: dict[str, dict]
    jobs: dict[str, JobShape]
    log_groups: dict[str, str]
    job_log_group_prefixes: dict[str, str]
    log_metrics: dict[str, dict]
    failure_event_pattern: str
    failure_rule_name: str
    workflow_name: str
    uploads: dict[str, str] = field(default_factory=dict)  # artifacts key -> repository-relative file


def console(module: Path, expression: str, deployment: Deployment, terraform: str) -> object:
    """The value of ``expression`` in the module folder ``module`` (variables.tf, example.tfvars and .tf files
    without resources), with the deployment's project, environment and Region."""
    result = subprocess.run(
        [terraform, "console", "-var-file=example.tfvars", f"-var=project={deployment.project}",
         f"-var=environment={deployment.environment}", f"-var=aws_region={deployment.region}"],
        input=f"base64encode(jsonencode({' '.join(expression.split())}))\n", capture_output=True, text=True,
        cwd=module, timeout=180,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1",
             "HOME": str(module)},
    )
    if result.returncode != 0:
        report = re.sub(r"\x1b\[[0-9;]*m", "", result.stderr)
        lines = [line.strip("│ ") for line in report.splitlines() if line.strip("│ ╷╵!")]
        raise ShapeError("tofu console could not evaluate terraform/: " + " ".join(lines)[:400])
    return json.loads(base64.b64decode(result.stdout.strip().strip('"')))


def _locals_without_resources(path: Path) -> list[str]:
    """The file's top-level ``locals`` blocks that refer to no resource (those need an apply)."""
    return [block for block in _TOP_LEVEL_LOCALS.findall(path.read_text())
            if not _RESOURCE_REFERENCE.search(re.sub(r"#.*", "", block))]


def stubbed_locals_tf(deployment: Deployment) -> str:
    """terraform/locals.tf with its data sources replaced by the deployment's account, Region and partition."""
    text = (TERRAFORM_DIR / "locals.tf").read_text()
    text = re.sub(r'^data "[^"]+" "[^"]+" \{\}\n', "", text, flags=re.M)
    text = re.sub(r'^data "[^"]+" "[^"]+" \{\n.*?^\}\n', "", text, flags=re.M | re.S)
    for reference, value in {"data.aws_caller_identity.current.account_id": deployment.account_id,
                             "data.aws_region.current.region": deployment.region,
                             "data.aws_partition.current.partition": "aws"}.items():
        text = text.replace(reference, json.dumps(value))
    if "data." in re.sub(r"#.*", "", text):
        raise ShapeError("terraform/locals.tf uses a data source the rehearsal cannot stand in for")
    return text.replace('"${path.module}/.."', json.dumps(str(REPO_DIR)))


def _hcl(value: str) -> str:
    """python-hcl2's text of an expression (``${...}``) or a quoted template, as HCL source."""
    if value.startswith("${") and value.endswith("}"):
        depth = 0
        for position, char in enumerate(value[1:], start=1):
            depth += {"{": 1, "}": -1}.get(char, 0)
            if depth == 0:
                return value[2:-1] if position == len(value) - 1 else value
    return value


def _resources(path: Path, resource_type: str) -> dict[str, dict]:
    import hcl2

    with path.open() as handle:
        parsed = hcl2.load(handle)
    found = {}
    for resource in parsed.get("resource", []):
        for type_, instances in resource.items():
            if type_.strip('"') == resource_type:
                found.update({name.strip('"'): body for name, body in instances.items()})
    return found


def _each(expression: str, key: str, value: str) -> str:
    return expression.replace("each.key", key).replace("each.value", value)


def _object_locals() -> tuple[str, dict[str, str]]:
    """A local per uploaded object (aws_s3_object.<name>) holding its bucket and key, and the references to
    replace with it."""
    lines, replacements = [], {}
    for name, body in _resources(TERRAFORM_DIR / "artifacts.tf", "aws_s3_object").items():
        bucket, key = _hcl(body["bucket"]), _hcl(body["key"])
        bucket = re.sub(r'aws_s3_bucket\.this\[("[a-z-]+")\]\.id', r"local.bucket_names[\1]", bucket)
        if "for_each" in body:
            lines.append(f"rehearsal_object_{name} = {{ for each_key, each_value in {_hcl(body['for_each'])} : "
                         f"each_key => {{ bucket = {_each(bucket, 'each_key', 'each_value')}, "
                         f"key = {_each(key, 'each_key', 'each_value')} }} }}")
        else:
            lines.append(f"rehearsal_object_{name} = {{ bucket = {bucket}, key = {key} }}")
        replacements[f"aws_s3_object.{name}"] = f"local.rehearsal_object_{name}"
    return "locals {\n" + "\n".join(f"  {line}" for line in lines) + "\n}\n", replacements


def terraform_shape(deployment: Deployment, terraform: str) -> DeployedShape:
    job = _resources(TERRAFORM_DIR / "glue_jobs.tf", "aws_glue_job")["this"]
    objects_tf, replacements = _object_locals()

    def resolved(expression: str) -> str:
        for reference, replacement in replacements.items():
            expression = expression.replace(reference, replacement)
        if _RESOURCE_REFERENCE.search(expression):
            raise ShapeError(f"glue_jobs.tf refers to a resource the rehearsal cannot resolve: {expression[:200]}")
        return _each(expression, "job_key", "job")

    arguments = resolved(_hcl(job["default_arguments"]))
    script_location = resolved(_hcl(job["command"][0]["script_location"]))
    with tempfile.TemporaryDirectory(prefix="totes-shape-") as scratch:
        module = Path(scratch)
        (module / "locals.tf").write_text(stubbed_locals_tf(deployment))
        extra = [block for name in ("artifacts.tf", "monitoring.tf")
                 for block in _locals_without_resources(TERRAFORM_DIR / name)]
        (module / "rehearsal.tf").write_text("\n".join(extra) + "\n" + objects_tf)
        shutil.copy(TERRAFORM_DIR / "variables.tf", module / "variables.tf")
        shutil.copy(TERRAFORM_DIR / "terraform.tfvars.example", module / "example.tfvars")
        value = console(module, f"""{{
          jobs = {{ for job_key, job in local.jobs : job_key => {{
            name = job.name, script = job.script, max_retries = job.max_retries,
            timeout_minutes = job.timeout_minutes, arguments = {arguments},
            script_location = {script_location} }} }},
          bucket_names = local.bucket_names,
          secret_names = {{ for k, s in local.secrets : k => s.name }},
          catalog_databases = local.workflow.catalog.databases,
          log_groups = local.log_groups, job_log_group_prefixes = local.job_log_group_prefixes,
          log_metrics = local.log_metrics, failure_pattern = local.job_failure_event_pattern,
          workflow_name = local.workflow.name, name_prefix = local.name_prefix,
          uploads = merge(
            {{ for k, o in local.rehearsal_object_script : o.key => local.jobs[k].script }},
            {{ (local.rehearsal_object_library.key) = "dist/totes.zip" }},
            {{ for w, o in local.rehearsal_object_wheel : o.key => "dist/python-modules/${{w}}" }})
        }}""", deployment, terraform)
    rule = _resources(TERRAFORM_DIR / "alerts.tf", "aws_cloudwatch_event_rule")["job_failure"]
    rule_name = _hcl(rule["name"]).strip('"').replace("${local.name_prefix}", value["name_prefix"])
    return DeployedShape(
        deployment=deployment,
        evaluated_by=f"tofu console ({terraform})",
        bucket_names=value["bucket_names"],
        secret_names=value["secret_names"],
        catalog_databases=value["catalog_databases"],
        jobs={key: JobShape(key=key, name=job["name"], script=job["script"], script_location=job["script_location"],
                            max_retries=int(job["max_retries"]), timeout_minutes=int(job["timeout_minutes"]),
                            arguments=job["arguments"])
              for key, job in value["jobs"].items()},
        log_groups=value["log_groups"],
        job_log_group_prefixes=value["job_log_group_prefixes"],
        log_metrics=value["log_metrics"],
        # As Terraform sends it: jsonencode of the decoded template.
        failure_event_pattern=json.dumps(value["failure_pattern"], separators=(",", ":")),
        failure_rule_name=rule_name,
        workflow_name=value["workflow_name"],
        uploads=value["uploads"],
    )


def terraform_variables(deployment: Deployment) -> dict[str, str]:
    """The values locals.tf passes to templatefile() for workflow.json, computed as locals.tf computes them."""
    prefix = deployment.name_prefix
    bucket = f"{prefix}-{{}}-{deployment.account_id}-{deployment.region}"
    catalog_prefix = prefix.replace("-", "_")
    return {
        "name_prefix": prefix,
        "ingestion_zone_uri": "s3://" + bucket.format("ingestion"),
        "processed_zone_uri": "s3://" + bucket.format("processed"),
        "source_secret_id": f"{prefix}/source-db",
        "warehouse_secret_id": f"{prefix}/warehouse-db",
        "ingestion_database": f"{catalog_prefix}_ingestion",
        "processed_database": f"{catalog_prefix}_processed",
        "processed_catalog": "glue",
    }


def python_rendered_jobs(deployment: Deployment) -> dict[str, dict[str, str]]:
    """Each job's workflow.json arguments rendered in Python with Terraform's variables."""
    workflow = load_workflow(terraform_variables(deployment))
    return {key: dict(job.arguments) for key, job in workflow.jobs.items()}


def deployed_shape(deployment: Deployment | None = None) -> DeployedShape:
    """The shape as ``tofu console`` evaluates it (the pinned OpenTofu, built here once per machine)."""
    deployment = deployment or Deployment()
    try:
        terraform = tofu_binary()
    except ToolUnavailableError as error:
        raise ShapeError(f"no OpenTofu to evaluate glue_jobs.tf's job arguments with: {error}") from None
    shape = terraform_shape(deployment, terraform)
    # The local runtime renders workflow.json itself; it must agree with Terraform's rendering.
    rendered = python_rendered_jobs(deployment)
    for key, job in shape.jobs.items():
        differing = {name for name, value in rendered[key].items() if job.arguments.get(name) != value}
        if differing:
            raise ShapeError(f"job {key}: Terraform's arguments differ from workflow.json rendered locally in "
                             f"{', '.join(sorted(differing))}")
    return shape
