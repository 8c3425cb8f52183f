"""`make reseed` (``python -m totes.source seed --replace``) leaves nothing of the old source downstream.

A warehouse the real load job filled, zones with files and bookmarks, a catalog: after the reseed the
warehouse tables are empty at the same migration version, the zones and the catalog are gone, and the source
holds the new seed's rows. So the next `make run` reads the new source in full into an empty warehouse
(what every first-run test checks). Run as `make` runs it: the command in its own process, with the local
folders and secrets pointed at this test's throwaway databases.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from totes.local.runner import workflow_lock
from totes.local.workflow import load_workflow, local_workflow_variables
from totes.settings import REPO_DIR, SOURCE_OWNER_SECRET_ID
from totes.source.database import connect as source_connect
from totes.source.generator import generate
from totes.warehouse.database import connect
from totes.warehouse.errors import MigrationError
from totes.warehouse.migrations import empty_tables

from tests.warehouse.conftest import write_local_secret


@pytest.fixture
def old_stack(loaded_once, empty_source_db, tmp_path):
    """The old source (seed 1), a warehouse loaded from batches, and local folders made of them."""
    owner, _reader = empty_source_db
    with source_connect(owner) as conn:
        generate(conn, scale=0.01, seed=1)
    write_local_secret(loaded_once.secrets_dir, SOURCE_OWNER_SECRET_ID, owner)
    # A deletion the old source's reconciliation flagged: a table beside the star, emptied as well.
    loaded_once.sql("INSERT INTO source_deletion "
                    "VALUES ('payment', 1, '2024-07-01', '18:00', '2024-07-02', '09:00')")
    local_dir = tmp_path / "local"
    for folder in ("zones/ingestion/_state/bookmarks", "zones/processed/fact_payment", "catalog", "state"):
        (local_dir / folder).mkdir(parents=True)
    (local_dir / "zones/ingestion/_state/bookmarks/totesys-ingest.json").write_text("{}")
    (local_dir / "zones/processed/fact_payment/part-0.parquet").write_bytes(b"PAR1")
    (local_dir / "catalog/totesys_processed.json").write_text("{}")
    (local_dir / "state/job_runs.jsonl").write_text('{"Id": "jr_1"}\n')
    env = {**os.environ, "TOTES_LOCAL_DIR": str(local_dir),
           "TOTES_LOCAL_SECRETS_DIR": str(loaded_once.secrets_dir),
           "TOTES_LOCAL_CATALOG_DIR": str(local_dir / "catalog")}
    return loaded_once, owner, local_dir, env


def _reseed(env, seed: int = 2):
    command = [sys.executable, "-m", "totes.source", "seed", "--scale", "0.01", "--seed", str(seed),
               "--replace"]
    return subprocess.run(command, cwd=REPO_DIR, env=env, capture_output=True, text=True, timeout=300)


def _source_orders(owner) -> list[tuple]:
    with source_connect(owner) as conn:
        return conn.execute("SELECT sales_order_id, units_sold, unit_price FROM sales_order ORDER BY 1"
                            ).fetchall()


def test_reseed_empties_the_warehouse_and_deletes_the_zones_bookmarks_and_catalog(old_stack):
    loading, owner, local_dir, env = old_stack
    assert all(loading.counts().values()), loading.counts()  # the old rows, loaded by the real job
    migrations = loading.sql("SELECT version, checksum FROM schema_migrations ORDER BY 1")
    old_orders = _source_orders(owner)

    result = _reseed(env)

    assert result.returncode == 0, result.stderr
    assert set(loading.counts().values()) == {0}
    assert loading.sql("SELECT count(*) FROM source_deletion") == [(0,)]  # 1 before
    assert loading.sql("SELECT version, checksum FROM schema_migrations ORDER BY 1") == migrations
    assert not (local_dir / "zones").exists() and not (local_dir / "catalog").exists()
    assert (local_dir / "state/job_runs.jsonl").exists()  # the history of runs is not the old source's data
    new_orders = _source_orders(owner)
    assert new_orders and new_orders != old_orders
    assert "emptied the warehouse" in result.stdout and "seeded the totesys source" in result.stdout


def test_reseed_while_a_workflow_runs_is_refused_and_changes_nothing(old_stack):
    loading, owner, local_dir, env = old_stack
    counts, old_orders = loading.counts(), _source_orders(owner)
    workflow_name = load_workflow(local_workflow_variables()).name

    with workflow_lock(local_dir / "state", workflow_name, "held by the test"):
        result = _reseed(env)

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: workflow {workflow_name} is running (make schedule?); nothing was changed: "
        "reseed once it has ended"]
    assert loading.counts() == counts and _source_orders(owner) == old_orders
    assert (local_dir / "zones/ingestion/_state/bookmarks/totesys-ingest.json").exists()


def test_emptying_a_warehouse_in_use_gives_up_with_a_clear_error_and_keeps_every_row(warehouse_db):
    with connect(warehouse_db) as conn:
        conn.execute("INSERT INTO source_deletion "
                     "VALUES ('payment', 1, '2024-07-01', '18:00', '2024-07-02', '09:00')")
        conn.commit()
    with connect(warehouse_db) as reader, connect(warehouse_db) as conn:
        reader.execute("SELECT count(*) FROM source_deletion")  # its transaction stays open: a long query
        with pytest.raises(MigrationError, match=r"in use .* held them for 200ms\); nothing was emptied"):
            empty_tables(conn, lock_timeout="200ms")
        reader.rollback()
        assert conn.execute("SELECT count(*) FROM source_deletion").fetchone() == (1,)


def test_a_warehouse_never_migrated_has_nothing_to_empty(empty_warehouse_db):
    with connect(empty_warehouse_db) as conn:
        assert empty_tables(conn) == []
