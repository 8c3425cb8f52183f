"""The notebooks run top to bottom against data this test run produces, and are committed without outputs.

One pipeline run per module (ingest, transform and load with the real Glue scripts, on a small generated
source) fills a throwaway source, processed zone (its Iceberg tables in the local JDBC catalog, keyed by the
zone) and warehouse; the notebooks find them through environment variables (``TOTES_PROCESSED_ZONE``, and
``TOTES_LOCAL_SECRETS_DIR`` as ``make`` sets it), so they never need ``make run`` to have happened. The executed copies are saved to ``test-artifacts/notebooks/``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import PROCESSED_CATALOG_ARGS, copy_processed_catalog_secret
from totes.secrets import LocalSecretProvider
from totes.settings import (
    INGEST_JOB_NAME,
    INGESTION_DATABASE,
    LOAD_JOB_NAME,
    LOCAL_SECRETS_DIR,
    PROCESSED_DATABASE,
    REPO_DIR,
    SOURCE_OWNER_SECRET_ID,
    SOURCE_SECRET_ID,
    TRANSFORM_JOB_NAME,
    WAREHOUSE_READONLY_SECRET_ID,
    WAREHOUSE_SECRET_ID,
)
from totes.source.database import connect as source_connect
from totes.source.database import create_database, create_schema, drop_database
from totes.source.generator import generate
from totes.warehouse.database import connect as warehouse_connect
from totes.warehouse.migrations import migrate

NOTEBOOKS_DIR = REPO_DIR / "notebooks"
NOTEBOOKS = sorted(path.name for path in NOTEBOOKS_DIR.glob("*.ipynb"))
ARTIFACTS = REPO_DIR / "test-artifacts" / "notebooks"
CELL_TIMEOUT_SECONDS = 120


def test_both_notebooks_exist():
    assert NOTEBOOKS == ["processed_zone_exploration.ipynb", "warehouse_star_schema.ipynb"]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_committed_with_outputs_cleared(name):
    notebook = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)
    nbformat.validate(notebook)
    dirty = [
        index
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, f"{name}: cells {dirty} have outputs; clear them before committing"


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO_DIR / "glue_jobs" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write_secret(secrets_dir, secret_id, credentials) -> None:
    path = secrets_dir / f"{secret_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dataclasses.asdict(credentials)))


@dataclasses.dataclass(frozen=True)
class PipelineOutput:
    processed_zone: str
    warehouse_dbname: str


@pytest.fixture(scope="module")
def pipeline_output(spark, tmp_path_factory):
    """A small generated source run once through the three Glue jobs; the environment points at it all."""
    root = tmp_path_factory.mktemp("notebook-pipeline")
    provider = LocalSecretProvider(LOCAL_SECRETS_DIR)
    source_owner = provider.get_database_credentials(SOURCE_OWNER_SECRET_ID)
    warehouse_owner = provider.get_database_credentials(WAREHOUSE_SECRET_ID)
    suffix = hashlib.sha1(str(root).encode()).hexdigest()[:10]
    source_name, warehouse_name = f"nb_source_{suffix}", f"nb_warehouse_{suffix}"
    source = create_database(source_owner, source_name)
    warehouse = create_database(warehouse_owner, warehouse_name)
    try:
        with source_connect(source) as conn:
            create_schema(conn)
            generate(conn, scale=0.02, seed=2025)
        with warehouse_connect(warehouse) as conn:
            migrate(conn)
        secrets_dir = root / "secrets"
        _write_secret(
            secrets_dir,
            SOURCE_SECRET_ID,
            dataclasses.replace(provider.get_database_credentials(SOURCE_SECRET_ID), dbname=source_name),
        )
        _write_secret(secrets_dir, WAREHOUSE_SECRET_ID, warehouse)
        copy_processed_catalog_secret(secrets_dir)
        _write_secret(
            secrets_dir,
            WAREHOUSE_READONLY_SECRET_ID,
            dataclasses.replace(
                provider.get_database_credentials(WAREHOUSE_READONLY_SECRET_ID), dbname=warehouse_name
            ),
        )
        with pytest.MonkeyPatch.context() as env:
            env.setenv("TOTES_LOCAL_SECRETS_DIR", str(secrets_dir))
            env.setenv("TOTES_LOCAL_CATALOG_DIR", str(root / "catalog"))
            env.setenv("TOTES_LOG_FILE", str(root / "logs" / "pipeline.jsonl"))
            env.delenv("TOTES_PROCESSED_DATABASE", raising=False)
            env.delenv("TOTES_DASHBOARD_SECRET_ID", raising=False)
            ingestion, processed = (root / "ingestion").as_uri(), (root / "processed").as_uri()
            env.setenv("TOTES_PROCESSED_ZONE", processed)
            enable = ["--job-bookmark-option", "job-bookmark-enable"]
            processed_catalog = [*PROCESSED_CATALOG_ARGS, "--catalog-database", PROCESSED_DATABASE]
            _script("ingest_totesys").main(
                [
                    "ingest",
                    "--JOB_NAME",
                    INGEST_JOB_NAME,
                    "--ingestion-zone",
                    ingestion,
                    "--source-secret-id",
                    SOURCE_SECRET_ID,
                    "--read-lag-seconds",
                    "0",
                    "--catalog-database",
                    INGESTION_DATABASE,
                    *enable,
                ]
            )
            _script("transform_totesys").main(
                [
                    "transform",
                    "--JOB_NAME",
                    TRANSFORM_JOB_NAME,
                    "--ingestion-zone",
                    ingestion,
                    "--processed-zone",
                    processed,
                    *processed_catalog,
                    *enable,
                ]
            )
            _script("load_warehouse").main(
                [
                    "load",
                    "--JOB_NAME",
                    LOAD_JOB_NAME,
                    "--processed-zone",
                    processed,
                    "--warehouse-secret-id",
                    WAREHOUSE_SECRET_ID,
                    *processed_catalog,
                    *enable,
                ]
            )
            yield PipelineOutput(processed, warehouse_name)
    finally:
        drop_database(source_owner, source_name)
        drop_database(warehouse_owner, warehouse_name)


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_top_to_bottom_on_the_pipeline_output(pipeline_output, name):
    notebook = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)

    # The kernel inherits this process's environment: the zone and secrets of the run above.
    NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_SECONDS,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS_DIR)}},
    ).execute()

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, ARTIFACTS / name)
    printed = "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "stream"
    )
    # The first cell says where the notebook reads from: this run's zone or warehouse, not .local's.
    assert pipeline_output.processed_zone in printed or f"/{pipeline_output.warehouse_dbname}" in printed, (
        printed
    )
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error" or output.get("name") == "stderr"
    ]
    assert not errors, errors
