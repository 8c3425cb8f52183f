"""Credentials come from a secret shaped like Terraform's Secrets Manager secret; the password never leaks."""

import json

import boto3
import pytest
from moto import mock_aws

from totes.secrets import LocalSecretProvider, SecretError, SecretsManagerProvider

SECRET = {"engine": "postgres", "host": "db.example.internal", "port": 5432, "dbname": "totesys",
          "username": "reader", "password": "s3cr3t-Value!"}


@pytest.fixture
def secretsmanager():
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="eu-west-2")
        client.create_secret(Name="totesys/source-db", SecretString=json.dumps(SECRET))
        yield client


def test_secrets_manager_secret_gives_credentials_and_a_jdbc_url(secretsmanager):
    credentials = SecretsManagerProvider(secretsmanager).get_database_credentials("totesys/source-db")
    assert credentials.jdbc_url == "jdbc:postgresql://db.example.internal:5432/totesys"
    assert credentials.describe() == "reader@db.example.internal:5432/totesys"
    assert credentials.password == SECRET["password"]


def test_password_is_not_in_the_repr(secretsmanager):
    credentials = SecretsManagerProvider(secretsmanager).get_database_credentials("totesys/source-db")
    assert SECRET["password"] not in repr(credentials)
    assert SECRET["password"] not in str(credentials)


def test_a_missing_secret_names_the_secret_and_the_aws_error(secretsmanager):
    with pytest.raises(SecretError, match="totesys/nothing.*ResourceNotFoundException"):
        SecretsManagerProvider(secretsmanager).get_database_credentials("totesys/nothing")


def test_a_secret_without_required_keys_lists_them_and_not_the_value(secretsmanager):
    secretsmanager.create_secret(Name="totesys/partial", SecretString=json.dumps({"password": "hunter2-xyz"}))
    with pytest.raises(SecretError, match="host, port, dbname, username") as raised:
        SecretsManagerProvider(secretsmanager).get_database_credentials("totesys/partial")
    assert "hunter2-xyz" not in str(raised.value)


def test_a_secret_that_is_not_json_is_reported_without_its_content(tmp_path):
    (tmp_path / "totesys").mkdir()
    (tmp_path / "totesys" / "broken.json").write_text("password=hunter2-xyz")
    with pytest.raises(SecretError, match="not valid JSON") as raised:
        LocalSecretProvider(tmp_path).get_database_credentials("totesys/broken")
    assert "hunter2-xyz" not in str(raised.value)


def test_local_secret_files_read_like_secrets_manager(tmp_path):
    (tmp_path / "totesys").mkdir()
    (tmp_path / "totesys" / "source-db.json").write_text(json.dumps(SECRET))
    credentials = LocalSecretProvider(tmp_path).get_database_credentials("totesys/source-db")
    assert credentials.describe() == "reader@db.example.internal:5432/totesys"
