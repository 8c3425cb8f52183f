"""Pre-flight: what a job needs from where it runs, checked before it reads anything (issue 16).

Each job calls :func:`check_before_reading` right after resolving its arguments (:mod:`totes.glue_job`). The checks
follow the job's arguments: its secrets exist and hold every field; its databases answer with the grants it needs
(the source reader's SELECT on every source table and its pg_read_all_stats membership; the warehouse migrated to the
newest ``sql/warehouse`` version, with the loader's privileges); a zone it writes takes a probe object under
``_preflight/`` (written, read back, deleted), a zone it only reads lists and reads; its catalog database exists or
may be created; and the AWS APIs the job's own code calls (S3, Secrets Manager, Glue) answer within a few seconds
(short-timeout clients), so a subnet without a route says so instead of hanging. Each problem is one line naming what
is missing and how to fix it, and :class:`PreflightError` lists them all at once.

This module holds the checks every job may run (zones, catalog) and the machinery; the database checks, which
need psycopg, are in :mod:`totes.preflight.databases`, so that the transformation, which has no database and no
psycopg on Glue, imports none. ``python -m totes.preflight`` (``make preflight``, :mod:`totes.preflight.__main__`)
runs the checks of every job of the workflow with the local stack's arguments.

Cost on every 15-minute run: one connection per database, a probe written, read and deleted per written zone,
two requests per read zone, one catalog call; no Spark job.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlparse

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError, NoCredentialsError
from botocore.exceptions import ConnectionError as EndpointUnreachable

from totes.bookmarks import bookmark_key
from totes.catalog import catalog_client, ensure_database
from totes.logs import log_event
from totes.settings import INGEST_JOB_NAME
from totes.zones import ZoneStore

# Botocore's defaults (60 s to connect, up to 5 attempts) make an endpoint the subnet cannot reach hang for
# minutes; two attempts of 3 s say "cannot reach" within seconds.
AWS_CLIENT_CONFIG = Config(connect_timeout=3, read_timeout=10, retries={"mode": "standard", "max_attempts": 2})
PROBE_PREFIX = "_preflight"

# The AWS APIs the jobs call, and what gives a Glue job in a VPC subnet a route to each (terraform/network.tf).
_AWS_SERVICES = {
    "s3": ("S3", "add the S3 gateway VPC endpoint to the route table of the job's subnet, or a NAT route"),
    "secretsmanager": ("Secrets Manager", "add an interface VPC endpoint for secretsmanager, or a NAT route"),
    "glue": ("the Glue Data Catalog", "add an interface VPC endpoint for glue, or a NAT route"),
}


class PreflightError(RuntimeError):
    """What a job needs is missing; one line per problem, each naming what and how to fix it."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class CheckResult:
    """One check: ``problems`` empty when it passed; ``skipped`` says why it could not run (an earlier check
    failed, and that one carries the problem)."""

    name: str
    problems: tuple[str, ...] = ()
    detail: str = ""
    skipped: str = ""

    def lines(self) -> list[str]:
        if self.problems:
            return [f"PROBLEM  {problem}" for problem in self.problems]
        if self.skipped:
            return [f"skipped  {self.name}: {self.skipped}"]
        return [f"ok       {self.name}" + (f": {self.detail}" if self.detail else "")]


def failed(name: str, *problems: str) -> CheckResult:
    """The result of a check that found ``problems``."""
    return CheckResult(name, tuple(problems))


def aws_problem(service: str, endpoint: str | None, error: BotoCoreError) -> str:
    """The line for an AWS call that failed below the API: no route to the endpoint, no credentials."""
    label, route = _AWS_SERVICES[service]
    if isinstance(error, (EndpointUnreachable, HTTPClientError)):  # refused, timed out, cut
        host = urlparse(endpoint).netloc if endpoint else f"the {service} endpoint"
        return f"cannot reach {label} ({host}) from the job's network: {route}"
    if isinstance(error, NoCredentialsError):
        return f"no AWS credentials to call {label}: the job's role gives them on Glue; elsewhere set AWS_PROFILE"
    return f"cannot call {label}: {error}"


def endpoint_of(client) -> str | None:
    """The endpoint an AWS client calls (None before one exists), for the "cannot reach" line."""
    return getattr(getattr(client, "meta", None), "endpoint_url", None)


def _client_error(error: ClientError) -> str:
    """Code and message of an AWS API error, on one line."""
    details = error.response.get("Error", {})
    message = " ".join(str(details.get("Message") or "").split())
    return details.get("Code", "unknown") + (f": {message}" if message else "")


# -- zones -------------------------------------------------------------------------------------------------------

def _zone_problem(label: str, uri: str, action: str, error: Exception, zone: ZoneStore | None) -> str:
    scheme = urlparse(uri).scheme
    if isinstance(error, BotoCoreError):
        return aws_problem("s3", endpoint_of(getattr(zone, "client", None)), error)
    if isinstance(error, ClientError):
        cause = _client_error(error)
        if error.response.get("Error", {}).get("Code") == "NoSuchBucket":
            fix = "the bucket does not exist: terraform apply creates it"
        else:
            fix = ("the job's role needs s3:ListBucket, s3:GetObject, s3:PutObject and s3:DeleteObject there "
                   "and kms:Decrypt and kms:GenerateDataKey on the bucket's key")
    else:
        # The errno's own text: the store's message names the probe's key, which differs per job.
        cause = os.strerror(error.errno) if getattr(error, "errno", None) else str(error)
        fix = "make it a folder this job may write" if scheme == "file" else "use an s3:// or file:// URI"
    return f"{label} {uri}: cannot {action} ({cause}): {fix}"


def zone_write_check(label: str, uri: str, job_name: str) -> CheckResult:
    """A zone the job writes: a probe object under _preflight/ is written, read back and deleted."""
    name = f"{label} {uri}"
    key = f"{PROBE_PREFIX}/{job_name}.json"
    action = "write, read back and delete a probe object under _preflight/"
    zone = None
    try:
        zone = ZoneStore.for_uri(uri, aws_config=AWS_CLIENT_CONFIG)
        zone.write_text(key, json.dumps({"job": job_name, "at": dt.datetime.now(dt.timezone.utc).isoformat()}))
        zone.read_text(key)
        zone.delete_prefix(key)  # locally also the _preflight folder it leaves empty
    except (OSError, ValueError, ClientError, BotoCoreError) as error:
        return failed(name, _zone_problem(label, uri, action, error, zone))
    return CheckResult(name, detail="writable (probe written, read back, deleted)")


def zone_read_check(label: str, uri: str, key: str) -> CheckResult:
    """A zone the job only reads: it lists, and ``key`` (an object the job's reads sit beside) reads if there."""
    name = f"{label} {uri}"
    zone = None
    try:
        zone = ZoneStore.for_uri(uri, aws_config=AWS_CLIENT_CONFIG)
        present = zone.exists(key)
        if present:
            zone.read_text(key)
    except (OSError, ValueError, ClientError, BotoCoreError) as error:
        return failed(name, _zone_problem(label, uri, f"list and read {key}", error, zone))
    return CheckResult(name, detail=f"readable ({'read ' + key if present else 'listed; nothing written yet'})")


# -- catalog -----------------------------------------------------------------------------------------------------

def catalog_check(database: str, zone_uri: str) -> CheckResult:
    """The catalog database exists, or the job may create it (its first registration would)."""
    name = f"catalog database {database}"
    client = None
    try:
        client = catalog_client(AWS_CLIENT_CONFIG)
        client.get_database(Name=database)
        return CheckResult(name, detail="exists")
    except BotoCoreError as error:
        return failed(name, aws_problem("glue", endpoint_of(client), error))
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "EntityNotFoundException":
            return failed(name, f"{name}: cannot read it ({_client_error(error)}): the job's role needs "
                                f"glue:GetDatabase on it")
    try:
        ensure_database(client, database, location=zone_uri)
    except BotoCoreError as error:
        return failed(name, aws_problem("glue", endpoint_of(client), error))
    except (ClientError, OSError) as error:
        cause = _client_error(error) if isinstance(error, ClientError) else str(error)
        return failed(name, f"{name} does not exist and the job may not create it ({cause}): "
                            f"terraform apply creates it (terraform/catalog.tf)")
    return CheckResult(name, detail="created, as the job's first registration would")


# -- the jobs ----------------------------------------------------------------------------------------------------

def catalog_checks(args: dict, zone_uri: str) -> list[CheckResult]:
    """The catalog check of a job given ``--catalog-database``; none for a job without."""
    database = args.get("catalog_database")
    return [catalog_check(database, zone_uri)] if database else []


def processed_catalog_checks(args: dict) -> list[CheckResult]:
    """The processed zone's Iceberg catalog: its Glue database (AWS), or its JDBC catalog database (locally)."""
    kind, _, secret_id = (args.get("processed_catalog") or "glue").partition(":")
    if kind == "glue":
        if not args.get("catalog_database"):
            return [failed("processed catalog", "--catalog-database (the processed zone's catalog database) is empty")]
        return [catalog_check(args["catalog_database"], args["processed_zone"])]
    if kind != "jdbc" or not secret_id:
        return [failed("processed catalog", f"--processed-catalog must be glue or jdbc:<secret id>, "
                                            f"got {args.get('processed_catalog')!r}")]
    # Imported here: the database checks need psycopg, which the transformation job does not ship to Glue, where
    # its catalog is always the Glue Data Catalog (scripts/package.py checks each job's imports).
    from totes.preflight.databases import jdbc_catalog_checks

    return jdbc_catalog_checks(secret_id)


def transform_checks(args: dict) -> list[CheckResult]:
    ingest_job_name = args.get("ingest_job_name") or INGEST_JOB_NAME
    return [zone_read_check("ingestion zone", args["ingestion_zone"], bookmark_key(ingest_job_name)),
            zone_write_check("processed zone", args["processed_zone"], args["JOB_NAME"]),
            *processed_catalog_checks(args)]


def problems_of(results: list[CheckResult]) -> list[str]:
    """Every problem once (two zones in one unreachable S3 make one line), in check order."""
    return list(dict.fromkeys(problem for result in results for problem in result.problems))


def check_before_reading(checks: Callable[[dict], list[CheckResult]], args: dict,
                         job_logger: logging.Logger) -> list[CheckResult]:
    """Run a job's checks; on any problem log the job's "job failed" line and raise :class:`PreflightError`."""
    started = time.monotonic()
    results = checks(args)
    seconds = round(time.monotonic() - started, 3)
    problems = problems_of(results)
    if problems:
        error = PreflightError(problems)
        log_event(job_logger, "job failed; pre-flight found problems, nothing was read", logging.ERROR,
                  error_type=type(error).__name__, error=str(error), problems=problems, seconds=seconds)
        raise error
    log_event(job_logger, "pre-flight passed", checks=[result.name for result in results], seconds=seconds)
    return results
