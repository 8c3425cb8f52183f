"""Database credentials from a secret shaped like the Secrets Manager secret Terraform creates.

Secret value (JSON): ``{"engine", "host", "port", "dbname", "username", "password"}``.

On AWS the secret is read from Secrets Manager; locally from a JSON file under ``TOTES_LOCAL_SECRETS_DIR``
(``<secret id>.json``), which ``make`` sets. The password is held in a :class:`DatabaseCredentials` whose
``repr`` hides it, so it cannot leak through logs, exceptions or job arguments by accident.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

LOCAL_SECRETS_DIR_ENV = "TOTES_LOCAL_SECRETS_DIR"
REQUIRED_KEYS = ("engine", "host", "port", "dbname", "username", "password")


class SecretError(RuntimeError):
    """A secret is missing, unreadable or not shaped like a database secret. Never carries the value."""


@dataclass(frozen=True)
class DatabaseCredentials:
    host: str
    port: int
    dbname: str
    username: str
    password: str = field(repr=False)
    engine: str = "postgres"

    @property
    def jdbc_url(self) -> str:
        return f"jdbc:postgresql://{self.host}:{self.port}/{self.dbname}"

    def describe(self) -> str:
        """Where these credentials point, safe to log."""
        return f"{self.username}@{self.host}:{self.port}/{self.dbname}"

    def libpq_kwargs(self) -> dict:
        return {
            "host": self.host,
            "port": self.port,
            "dbname": self.dbname,
            "user": self.username,
            "password": self.password,
        }


def parse_secret(secret_id: str, secret_string: str) -> DatabaseCredentials:
    try:
        value = json.loads(secret_string)
    except json.JSONDecodeError:
        raise SecretError(f"secret {secret_id!r} is not valid JSON") from None
    if not isinstance(value, dict):
        raise SecretError(f"secret {secret_id!r} is not a JSON object")
    missing = [key for key in REQUIRED_KEYS if key not in value]
    if missing:
        raise SecretError(f"secret {secret_id!r} lacks the keys {', '.join(missing)}")
    try:
        port = int(value["port"])
    except (TypeError, ValueError):
        raise SecretError(f"secret {secret_id!r} has a port that is not a number") from None
    return DatabaseCredentials(
        host=str(value["host"]),
        port=port,
        dbname=str(value["dbname"]),
        username=str(value["username"]),
        password=str(value["password"]),
        engine=str(value.get("engine", "postgres")),
    )


class LocalSecretProvider:
    """Secrets as JSON files in a folder: the local stand-in for Secrets Manager."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)

    def get_database_credentials(self, secret_id: str) -> DatabaseCredentials:
        path = self.directory / f"{secret_id}.json"
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise SecretError(f"secret {secret_id!r} not found: no file {path}") from None
        return parse_secret(secret_id, text)


class SecretsManagerProvider:
    """Secrets from AWS Secrets Manager (tested against moto); ``config`` is a botocore ``Config`` for the
    client (the pre-flight's short timeouts)."""

    def __init__(self, client=None, region_name: str | None = None, config=None):
        if client is None:
            import boto3

            client = boto3.client("secretsmanager", region_name=region_name, config=config)
        self.client = client

    def get_database_credentials(self, secret_id: str) -> DatabaseCredentials:
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_secret_value(SecretId=secret_id)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "unknown")
            raise SecretError(f"cannot read secret {secret_id!r} from Secrets Manager: {code}") from None
        return parse_secret(secret_id, response["SecretString"])


def default_secret_provider(config=None):
    """Local files when ``TOTES_LOCAL_SECRETS_DIR`` is set (make sets it), otherwise Secrets Manager."""
    local_dir = os.environ.get(LOCAL_SECRETS_DIR_ENV)
    if local_dir:
        return LocalSecretProvider(local_dir)
    return SecretsManagerProvider(config=config)


def get_database_credentials(secret_id: str) -> DatabaseCredentials:
    return default_secret_provider().get_database_credentials(secret_id)
