"""Settings shared by the jobs and the local runtime: names, local locations, read-window tuning.

Zone URIs and secret ids reach the jobs as job arguments (Terraform sets them on AWS, the local runner here);
the defaults below describe the local stack only.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
LOCAL_DIR = Path(os.environ.get("TOTES_LOCAL_DIR", REPO_DIR / ".local"))
LOCAL_SECRETS_DIR = Path(os.environ.get("TOTES_LOCAL_SECRETS_DIR", LOCAL_DIR / "secrets"))
LOCAL_ZONES_DIR = LOCAL_DIR / "zones"
LOCAL_INGESTION_ZONE = (LOCAL_ZONES_DIR / "ingestion").as_uri()
LOCAL_PROCESSED_ZONE = (LOCAL_ZONES_DIR / "processed").as_uri()

# Secret ids: Secrets Manager names on AWS, <LOCAL_SECRETS_DIR>/<id>.json locally.
SOURCE_SECRET_ID = "totesys/source-db"  # read-only role the ingestion job uses
SOURCE_OWNER_SECRET_ID = "totesys/source-db-owner"  # the "application": generator and change simulator
WAREHOUSE_SECRET_ID = "totesys/warehouse-db"  # the loader
WAREHOUSE_READONLY_SECRET_ID = "totesys/warehouse-readonly"  # dashboards and analysts
# Locally only: the PostgreSQL database of the processed zone's Iceberg catalog (AWS uses the Glue Data Catalog).
PROCESSED_CATALOG_SECRET_ID = "totesys/processed-catalog"

# Data Catalog databases of the two zones (Terraform prefixes them per environment on AWS).
INGESTION_DATABASE = "totesys_ingestion"
PROCESSED_DATABASE = "totesys_processed"

# The local stack's "${name_prefix}" of workflow/workflow.json: Terraform fills in "<project>-<environment>"
# (totesys-dev-ingest, ...), so two environments in one account never share a job, workflow or crawler name.
LOCAL_NAME_PREFIX = "totesys"
INGEST_JOB_NAME = f"{LOCAL_NAME_PREFIX}-ingest"
TRANSFORM_JOB_NAME = f"{LOCAL_NAME_PREFIX}-transform"
LOAD_JOB_NAME = f"{LOCAL_NAME_PREFIX}-load"

# Ingestion read window (README, "The bookmark guarantee"). The upper bound trails the database clock by
# READ_LAG_SECONDS and never passes the start of the oldest open transaction; each delta re-reads the last
# OVERLAP_SECONDS before the previous upper bound and drops rows already ingested (same key and last_updated).
DEFAULT_READ_LAG_SECONDS = 5.0
DEFAULT_OVERLAP_SECONDS = 300.0

# JDBC rows per round trip: the default of the PostgreSQL driver (all rows at once) exhausts memory on big
# tables, and 10k measured fastest here.
JDBC_FETCH_SIZE = 10_000

# Tables the ingestion job reads at the same time: enough to overlap each read's round trips with another's rows.
INGEST_CONCURRENT_TABLES = 4
