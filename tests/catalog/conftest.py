"""The Glue catalog clients the ingestion job meets: the local catalog, and moto's Glue through boto3."""

import boto3
import pytest
from moto import mock_aws

from totes.catalog import LocalGlueCatalog


@pytest.fixture(params=["local", "glue"])
def client(request, tmp_path):
    if request.param == "local":
        yield LocalGlueCatalog(tmp_path / "catalog")
        return
    with mock_aws():
        yield boto3.client("glue", region_name="eu-west-2")
