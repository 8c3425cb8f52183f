"""Every file Terraform reads or uploads exists: file(), filemd5(), templatefile(), fileset() paths, with
their per-job and per-query expansions, and the library zip is what `make package` builds."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from tests.terraform.tfconfig import REPO_DIR, TERRAFORM_DIR, unquote, values_of

FILE_FUNCTION = re.compile(
    r"\b(file|filemd5|templatefile|fileset|filebase64)\(\s*(\"(?:[^\"\\]|\\.)*\"|[\w.\[\]\"]+)"
)


def _package_module():
    sys.path.insert(0, str(REPO_DIR / "scripts"))
    try:
        import package
    finally:
        sys.path.pop(0)
    return package


def _expand(path: str, tf, workflow) -> list[str]:
    """Concrete paths of a path template found in the configuration."""
    if path.startswith("local."):
        return _expand(unquote(tf.locals[path.removeprefix("local.")]), tf, workflow)
    path = path.replace("${local.repo_root}", unquote(tf.locals["repo_root"]))
    path = path.replace("${path.module}", str(TERRAFORM_DIR))
    if "${each.value.script}" in path:
        return [path.replace("${each.value.script}", job["script"]) for job in workflow["jobs"].values()]
    if "${each.value}" in path and "sql/athena" in path:
        return [
            path.replace("${each.value}", p.name) for p in sorted((REPO_DIR / "sql" / "athena").glob("*.sql"))
        ]
    if path.endswith("/dist/python-modules/${each.key}"):
        return []  # the wheels `make package` downloads, each named in dist/python-modules.json
    assert "${" not in path, f"cannot resolve the path {path!r}: teach this test its expansion"
    return [path]


def _referenced_paths(tf, workflow) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for name, parsed in tf.files.items():
        for value in values_of(parsed):
            for function, argument in FILE_FUNCTION.findall(value):
                argument = unquote(argument.replace('\\"', '"'))
                for path in _expand(argument, tf, workflow):
                    found.setdefault(str(Path(path).resolve() if function != "fileset" else path), set()).add(
                        f"{name}:{function}"
                    )
    return found


def test_every_referenced_file_exists(tf, workflow):
    package = _package_module()
    found = _referenced_paths(tf, workflow)
    assert found, "no file function found: the scanner is broken"
    missing = []
    for path, where in found.items():
        if any(w.endswith(":fileset") for w in where):
            if not Path(path).is_dir():
                missing.append(f"{path} ({sorted(where)})")
            continue
        if Path(path) in (package.DEFAULT_OUTPUT.resolve(),
                          (package.DEFAULT_WHEELS.parent / package.WHEEL_MANIFEST).resolve()):
            continue  # built by `make package`; tests/terraform/test_package.py checks them
        if not Path(path).is_file():
            missing.append(f"{path} ({sorted(where)})")
    assert not missing, f"referenced but missing: {missing}"


def test_every_job_script_and_query_is_uploaded_or_registered(tf, workflow):
    found = _referenced_paths(tf, workflow)
    for job in workflow["jobs"].values():
        assert str((REPO_DIR / job["script"]).resolve()) in found, f"{job['script']} is not uploaded"
    for sql in (REPO_DIR / "sql" / "athena").glob("*.sql"):
        assert str(sql.resolve()) in found, f"{sql.name} is not a named query"


def test_library_zip_is_the_package_output(tf):
    package = _package_module()
    library = Path(
        unquote(tf.locals["library_zip"]).replace("${local.repo_root}", unquote(tf.locals["repo_root"]))
    )
    assert library.resolve() == package.DEFAULT_OUTPUT.resolve()


@pytest.mark.parametrize("resource", ["script", "library", "wheel"])
def test_uploads_redeploy_when_the_file_changes(tf, resource):
    body = tf.get("resource", "aws_s3_object", resource).body
    source = body["source"]
    # source_hash, not etag: the artifacts bucket is SSE-KMS, where S3's ETag is not the content's MD5.
    assert "etag" not in body
    source_code = source[2:-1] if source.startswith("${") else source
    assert body["source_hash"] in (f"${{filemd5({source_code})}}", f'${{filemd5("{unquote(source)}")}}'), (
        f"aws_s3_object.{resource}: source_hash must be filemd5 of its own source"
    )


def test_every_job_python_module_is_pinned_in_requirements(workflow):
    requirements = (REPO_DIR / "requirements.txt").read_text().lower()
    for key, job in workflow["jobs"].items():
        for module in job.get("python_modules", []):
            assert re.search(rf"^{re.escape(module.lower())}==\S+$", requirements, re.M), (
                f"{module} of job {key} has no pin in requirements.txt"
            )
