# The totesys Glue pipeline, run for real on one machine. `make help` lists the targets.
# Everything a target needs (virtualenv, JDBC driver, local PostgreSQL, seeded source) it sets up itself.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PYTHON_BASE ?= python3
PY := $(VENV)/bin/python
export TOTES_LOCAL_DIR ?= $(CURDIR)/.local
export TOTES_LOCAL_SECRETS_DIR ?= $(TOTES_LOCAL_DIR)/secrets
export TOTES_LOCAL_CATALOG_DIR ?= $(TOTES_LOCAL_DIR)/catalog
export TOTES_PG_PORT ?= 55432
export PYTHONPATH := $(CURDIR):$(CURDIR)/local_glue
export SPARK_LOCAL_IP ?= 127.0.0.1
# Spark hands timestamps to Python in the process's time zone; the jobs and the source work in UTC.
export TZ := UTC
export PYSPARK_PYTHON := $(CURDIR)/$(PY)
# Where `make jdbc-driver` puts the jars of jvm-dependencies.txt (the JDBC driver) and Spark finds them.
export TOTES_JARS_DIR ?= $(CURDIR)/.local/jars

SCALE ?= 1
SEED ?= 42
PYTEST_ARGS ?=

.PHONY: help
help: ## List the targets with what they do
	@awk 'BEGIN {FS = ":.*## "; printf "Targets (variables: SCALE=$(SCALE) SEED=$(SEED) JOB=<job> PYTEST_ARGS=...):\n"} \
	  /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV)/.installed: requirements.txt
	@PYTHON_BASE=$(PYTHON_BASE) scripts/system_packages.sh python3-venv
	@test -x $(PY) || $(PYTHON_BASE) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

# The Debian packages behind the tools (scripts/system_packages.sh): each target that uses a tool installs its
# package first when it is missing (as root; another user is told the command), and a present tool costs a look-up.
.PHONY: system-packages
system-packages: ## Install every Debian package the targets use (Java 17, PostgreSQL 15, Maven, npm, chromium...) that is missing
	@PYTHON_BASE=$(PYTHON_BASE) scripts/system_packages.sh

.PHONY: venv
venv: $(VENV)/.installed ## Create the virtualenv and install the pinned requirements

.PHONY: jdbc-driver
jdbc-driver: ## Fetch the PostgreSQL JDBC driver (Glue 5.1's, jvm-dependencies.txt) with mvn; checks its SHA-256
	@scripts/system_packages.sh maven java
	@scripts/fetch_jars.sh jvm-dependencies.txt $(TOTES_JARS_DIR)

.PHONY: db-up
db-up: ## Start the local PostgreSQL server (source and warehouse databases); reuses a running one
	@scripts/system_packages.sh postgresql
	@scripts/local_pg.sh start

.PHONY: db-down
db-down: ## Stop the local PostgreSQL server
	@scripts/local_pg.sh stop

.PHONY: db-status
db-status: ## Is the local PostgreSQL server running?
	@scripts/local_pg.sh status

.PHONY: source
source: venv db-up ## Create the totesys source schema and seed it (SCALE, SEED) unless it already has data
	@$(PY) -m totes.source seed --scale $(SCALE) --seed $(SEED) --if-empty

.PHONY: reseed
reseed: venv db-up ## Seed the source again at SCALE, SEED; empties the warehouse tables and deletes the zones, bookmarks and catalog too
	@$(PY) -m totes.source seed --scale $(SCALE) --seed $(SEED) --replace

.PHONY: simulate
simulate: venv db-up ## Drive a delta: insert new orders with transactions and payments, mark payments paid
	@$(PY) -m totes.source simulate --seed $$RANDOM

.PHONY: run
run: venv jdbc-driver source ## Run the pipeline once on the local stack and print a per-table summary
	@$(PY) -m totes.local run

.PHONY: reconcile
reconcile: venv jdbc-driver source warehouse ## Run the workflow once, the ingestion reconciling first (edits, deletes, missed rows)
	@$(PY) -m totes.local run --reconcile-now

.PHONY: rewind
rewind: venv jdbc-driver source warehouse ## Read one table's rows again from FROM (to TO), then transform and load: TABLE=payment FROM="2024-11-01 00:00" [TO=] [DOWNSTREAM=no]
	@$(PY) -m totes.local rewind $(if $(JOB),--job "$(JOB)") --table "$(TABLE)" --from "$(FROM)" $(if $(TO),--to "$(TO)") \
	  $(if $(filter no,$(DOWNSTREAM)),--no-downstream)

.PHONY: reset-bookmarks
reset-bookmarks: venv ## Reset a job's bookmark (JOB=totesys-ingest) or all of them; targets are not cleaned
	@$(PY) -m totes.local reset-bookmarks $(if $(JOB),--job $(JOB),--all)

.PHONY: test
test: venv jdbc-driver db-up ## Run the test suite against real PostgreSQL and real Spark
	@$(PY) -m pytest $(PYTEST_ARGS)

.PHONY: clean-zones
clean-zones: venv db-up ## Delete the local zones, their bookmarks and catalogs (the source and warehouse databases stay)
	@$(PY) -m totes.local.processed_catalog forget
	rm -rf $(TOTES_LOCAL_DIR)/zones $(TOTES_LOCAL_CATALOG_DIR)

.PHONY: clean
clean: ## Stop PostgreSQL and delete everything local: zones, database cluster, secrets, virtualenv
	@scripts/local_pg.sh destroy
	rm -rf $(TOTES_LOCAL_DIR) $(VENV)

.PHONY: warehouse
warehouse: venv db-up ## Create or migrate the local warehouse schema (sql/warehouse/V*.sql); safe to re-run
	@$(PY) -m totes.warehouse migrate

# The pipeline ends in the warehouse: `make run` migrates it first.
run: warehouse

.PHONY: preflight
preflight: venv jdbc-driver db-up ## Check what each job needs (secrets, grants, migrations, zones, catalog, AWS reach): a line per check
	@$(PY) -m totes.preflight

.PHONY: crawl
crawl: venv ## Run the ingestion zone's local crawler: register its tables and partitions in the local catalog
	@$(PY) -m totes.local.crawler

.PHONY: maintenance
maintenance: venv jdbc-driver db-up ## Maintain the local processed zone's Iceberg tables now: compact, expire old snapshots, remove orphans (make schedule does it daily)
	@$(PY) -m totes.maintenance

.PHONY: query
query: venv ## Athena-style SQL on the processed zone (DuckDB): SQL="SELECT ..." or NAME=top_designs (LIST=1 lists)
	@$(PY) -m totes.local.query $(if $(LIST),--list,$(if $(NAME),--name $(NAME),"$$SQL"))

# Operations: the schedule, monitoring (as Glue Studio's) and the Spark history UI (as Glue's Spark UI).
INTERVAL ?= 900
CYCLES ?=
SIMULATE ?=
SPARK_UI_PORT ?= 18080
SPARK_EVENT_LOG_DIR := $(TOTES_LOCAL_DIR)/spark-events

.PHONY: schedule
schedule: venv jdbc-driver source warehouse ## Run the workflow every INTERVAL s (900: :00/:15/:30/:45 UTC); CYCLES=n, SIMULATE=1 adds activity; Ctrl-C stops
	@$(PY) -m totes.local schedule --interval-seconds $(INTERVAL) $(if $(CYCLES),--cycles $(CYCLES)) \
	  $(if $(filter 1 yes true,$(SIMULATE)),--simulate)

.PHONY: status
status: venv ## Recent job runs (state, duration, rows, error), the bookmarks and the data freshness
	@$(PY) -m totes.local status

.PHONY: spark-ui
spark-ui: venv ## Serve the Spark history UI of the local runs (event logs) on http://localhost:18080 (SPARK_UI_PORT=)
	@scripts/system_packages.sh java
	@mkdir -p $(SPARK_EVENT_LOG_DIR)
	@spark_home=$$($(PY) -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))'); \
	  echo "Spark history UI: http://localhost:$(SPARK_UI_PORT)  (event logs: $(SPARK_EVENT_LOG_DIR); Ctrl-C stops it)"; \
	  SPARK_HOME=$$spark_home SPARK_NO_DAEMONIZE=1 \
	  SPARK_HISTORY_OPTS="-Dspark.history.fs.logDirectory=file://$(SPARK_EVENT_LOG_DIR) -Dspark.history.ui.port=$(SPARK_UI_PORT)" \
	  exec $$spark_home/bin/spark-class org.apache.spark.deploy.history.HistoryServer

# --- AWS deployment (terraform/, README "Deploying to AWS") ---------------------------------------------------

TFVARS ?= terraform/terraform.tfvars
# checkov pins boto3 and ships its own "hcl2" module, both clashing with requirements.txt: its own virtualenv.
CHECKOV_VENV ?= $(VENV)/checkov
export CHECKOV_BIN := $(CURDIR)/$(CHECKOV_VENV)/bin/checkov

$(CHECKOV_VENV)/.installed: terraform/requirements-checkov.txt
	@PYTHON_BASE=$(PYTHON_BASE) scripts/system_packages.sh python3-venv
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON_BASE) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r terraform/requirements-checkov.txt
	@touch $@

.PHONY: checkov-venv
checkov-venv: $(CHECKOV_VENV)/.installed ## Create checkov's own virtualenv (terraform/requirements-checkov.txt)

# The test suite includes the Terraform checks, which run checkov, and drives the dashboard in chromium.
test: checkov-venv test-packages

.PHONY: test-packages
test-packages:
	@scripts/system_packages.sh chromium curl ps

.PHONY: provider-schema
provider-schema: ## Fetch the AWS provider schema the Terraform checks validate against (terraform/provider-schema.lock)
	@scripts/system_packages.sh npm
	@scripts/fetch_provider_schema.sh >/dev/null

# terraform validate cannot run here (no 6.x provider build): the checks read the provider's published schema.
test tf-check: provider-schema

.PHONY: tofu
tofu: ## Build OpenTofu from its Go module (pinned; once per machine, ~4 min; ~/.cache/totes-tools) for tofu console/fmt
	@scripts/build_tofu.sh >/dev/null

# The Terraform checks and the rehearsal evaluate terraform/ with tofu console.
test tf-check rehearse: tofu

.PHONY: package
package: venv ## Build dist/totes.zip (--extra-py-files, reproducible bytes) and the jobs' wheels (dist/python-modules/)
	@$(PY) scripts/package.py --output dist/totes.zip

.PHONY: tf-check
tf-check: venv checkov-venv ## Static Terraform checks: HCL parse, references, workflow coverage, IAM, S3, checkov
	@$(PY) -m pytest tests/terraform -q -p no:cacheprovider

.PHONY: deploy
deploy: package ## Package, upload and apply on AWS: terraform apply with TFVARS (default terraform/terraform.tfvars)
	@test -f $(TFVARS) || { echo "deploy: $(TFVARS) not found; copy terraform/terraform.tfvars.example" >&2; exit 1; }
	terraform -chdir=terraform init -input=false
	terraform -chdir=terraform apply -var-file=$(abspath $(TFVARS))

# The dashboard: Streamlit over the warehouse through the read-only role (totes/dashboard).
PORT ?= 8501
DASHBOARD_ADDRESS ?= 127.0.0.1
DASHBOARD_REFRESH ?= 60
DASHBOARD_SECRET_ID ?=

.PHONY: dashboard
dashboard: venv $(if $(TOTES_LOCAL_SECRETS_DIR),db-up) ## Serve the dashboard on http://localhost:8501 (PORT=, DASHBOARD_REFRESH= s); reads the warehouse read-only
	@$(PY) -m totes.dashboard --port $(PORT) --address $(DASHBOARD_ADDRESS) --refresh-seconds $(DASHBOARD_REFRESH) \
	  $(if $(DASHBOARD_SECRET_ID),--secret-id $(DASHBOARD_SECRET_ID))

# Benchmarks (issue 9), not part of `make test`: throwaway databases and bench/results/tmp/, never the `make run` ones.
BENCH_MODE ?= full
BENCH_WAIT_LOAD ?= 1.5
# Extra arguments of python -m bench.run, e.g. BENCH_ARGS="--scales 1,105"
BENCH_ARGS ?=

# The benchmark-only packages, in the same virtualenv; the runtime pins of requirements.txt stay as they are.
$(VENV)/.bench-installed: bench/requirements.txt $(VENV)/.installed
	sed 's/\[[^]]*\]//' requirements.txt > $(VENV)/bench-constraints.txt
	$(PY) -m pip install --quiet -r bench/requirements.txt -c $(VENV)/bench-constraints.txt
	@touch $@

# Extra arguments of python -m bench.year_of_runs, e.g. YEAR_ARGS="--part year"
YEAR_ARGS ?=

.PHONY: bench
bench: venv jdbc-driver db-up $(VENV)/.bench-installed ## Benchmarks at scales 1, 10, 105, then a year of runs (~90 min; waits for a quiet machine) → bench/results/
	@$(PY) -m bench.run --mode $(BENCH_MODE) $(if $(filter full,$(BENCH_MODE)),--wait-load-below $(BENCH_WAIT_LOAD)) $(BENCH_ARGS)
	@$(MAKE) --no-print-directory bench-year

.PHONY: bench-year
bench-year: venv jdbc-driver db-up $(VENV)/.bench-installed ## A year of 15-minute runs simulated, before and after Iceberg (~60 min full; YEAR_ARGS="--part year|small-delta") → bench/results/year_of_runs.md
	@$(PY) -m bench.year_of_runs --mode $(BENCH_MODE) $(YEAR_ARGS)

.PHONY: bench-quick
bench-quick: ## Benchmarks in quick mode (scales 0.1 and 1), a smoke check → bench/results/tmp/quick/
	@$(MAKE) --no-print-directory bench BENCH_MODE=quick

# --- Deploy rehearsal (README "Deploy rehearsal"): the deployed shape against a local AWS API emulator ---------
export TOTES_AWS_PORT ?= 55433

.PHONY: aws-up
aws-up: venv ## Start the local AWS API emulator (moto server) on 127.0.0.1:55433 (TOTES_AWS_PORT); reuses a running one
	@scripts/system_packages.sh curl
	@scripts/local_aws.sh start

.PHONY: aws-down
aws-down: ## Stop the local AWS API emulator
	@scripts/local_aws.sh stop

.PHONY: aws-status
aws-status: ## Is the local AWS API emulator running?
	@scripts/local_aws.sh status

.PHONY: rehearsal-jars
rehearsal-jars: ## Fetch the rehearsal's jars (S3A: hadoop-aws, AWS SDK bundle; Iceberg's AWS bundle: jvm-dependencies-s3a.txt) with mvn; checks SHA-256
	@scripts/system_packages.sh maven java
	@scripts/fetch_jars.sh jvm-dependencies-s3a.txt

.PHONY: rehearse
rehearse: venv jdbc-driver rehearsal-jars package db-up ## Deploy rehearsal: Terraform's names on moto, a Spark cluster, full + delta workflow from dist/, checks (~7 min)
	@scripts/system_packages.sh curl
	@$(PY) -m totes.local.rehearsal

# The test suite runs the rehearsal too (tests/local/test_rehearsal.py): its jars and the package it uploads.
test: rehearsal-jars package
