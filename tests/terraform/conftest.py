"""Fixtures of the Terraform checks: the parsed configuration and the pipeline definition it is built from."""

from __future__ import annotations

import pytest

from tests.terraform.tfconfig import load, workflow_definition


@pytest.fixture(scope="session")
def tf():
    return load()


@pytest.fixture(scope="session")
def workflow():
    return workflow_definition()
