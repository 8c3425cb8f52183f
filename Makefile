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
JDBC_DRIVER := /usr/share/java/postgresql.jar

SCALE ?= 1
SEED ?= 42
PYTEST_ARGS ?=

.PHONY: help
help: ## List the targets with what they do
	@awk 'BEGIN {FS = ":.*## "; printf "Targets (variables: SCALE=$(SCALE) SEED=$(SEED) JOB=<job> PYTEST_ARGS=...):\n"} \
	  /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV)/.installed: requirements.txt
	@test -x $(PY) || $(PYTHON_BASE) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

.PHONY: venv
venv: $(VENV)/.installed ## Create the virtualenv and install the pinned requirements

$(JDBC_DRIVER):
	apt-get update -qq && apt-get install -y -qq -o DPkg::Lock::Timeout=300 libpostgresql-jdbc-java >/dev/null

.PHONY: jdbc-driver
jdbc-driver: $(JDBC_DRIVER) ## Install the PostgreSQL JDBC driver (Debian libpostgresql-jdbc-java) if missing

.PHONY: db-up
db-up: ## Start the local PostgreSQL server (source and warehouse databases); reuses a running one
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
reseed: venv db-up ## Drop the source data and seed it again at SCALE (bookmarks are reset too)
	@$(PY) -m totes.source seed --scale $(SCALE) --seed $(SEED) --replace
	@$(PY) -m totes.local reset-bookmarks --all

.PHONY: simulate
simulate: venv db-up ## Drive a delta: insert new orders with transactions and payments, mark payments paid
	@$(PY) -m totes.source simulate --seed $$RANDOM

.PHONY: run
run: venv jdbc-driver source ## Run the pipeline once on the local stack and print a per-table summary
	@$(PY) -m totes.local run

.PHONY: reset-bookmarks
reset-bookmarks: venv ## Reset a job's bookmark (JOB=totesys-ingest) or all of them; targets are not cleaned
	@$(PY) -m totes.local reset-bookmarks $(if $(JOB),--job $(JOB),--all)

.PHONY: test
test: venv jdbc-driver db-up ## Run the test suite against real PostgreSQL and real Spark
	@$(PY) -m pytest $(PYTEST_ARGS)

.PHONY: clean-zones
clean-zones: ## Delete the local zones and bookmarks (the source database stays)
	rm -rf $(TOTES_LOCAL_DIR)/zones

.PHONY: clean
clean: ## Stop PostgreSQL and delete everything local: zones, database cluster, secrets, virtualenv
	@scripts/local_pg.sh destroy
	rm -rf $(TOTES_LOCAL_DIR) $(VENV)

.PHONY: warehouse
warehouse: venv db-up ## Create or migrate the local warehouse schema (sql/warehouse/V*.sql); safe to re-run
	@$(PY) -m totes.warehouse migrate

# The pipeline ends in the warehouse: `make run` migrates it first.
run: warehouse

.PHONY: crawl
crawl: venv ## Run the local crawlers: register the zones' tables and partitions in the local catalog
	@$(PY) -m totes.local.crawler

.PHONY: query
query: venv ## Athena-style SQL on the processed zone (DuckDB): SQL="SELECT ..." or NAME=top_designs (LIST=1 lists)
	@$(PY) -m totes.local.query $(if $(LIST),--list,$(if $(NAME),--name $(NAME),"$$SQL"))
