#!/usr/bin/env bash
# A private PostgreSQL 15 server for the local pipeline: the totesys source and the warehouse databases.
# No Docker: initdb/pg_ctl refuse root, so they run as the `postgres` system user. Idempotent: `start` on a
# running server only re-applies roles and databases.
#
#   scripts/local_pg.sh start | stop | restart | status | destroy | psql [db]
#
# `restart` is a fast restart of a running server: every session is terminated, as when RDS reboots or fails
# over; it returns once the server accepts connections again. The fault injection test uses it.
#
# Environment: TOTES_LOCAL_DIR (default <repo>/.local), TOTES_PG_PORT (default 55432), TOTES_PG_ROOT (where the
# cluster lives; default <TOTES_LOCAL_DIR>/postgres, or a folder under /var/tmp if postgres cannot reach that).
set -euo pipefail

repo_dir=$(cd "$(dirname "$0")/.." && pwd)
local_dir=${TOTES_LOCAL_DIR:-$repo_dir/.local}
port=${TOTES_PG_PORT:-55432}
pg_bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
secrets_dir=$local_dir/secrets/totesys

as_postgres() { runuser -u postgres -- "$@"; }
log() { printf 'local_pg: %s\n' "$*" >&2; }

# The server runs as `postgres`, so every folder above its data directory must be traversable by that user.
# A checkout under a private folder (e.g. /root) is not: then the cluster lives under /var/tmp instead, in a
# folder named after the checkout so that two checkouts never share one.
traversable_by_postgres() {
  local dir=$1
  while [[ $dir != / ]]; do
    [[ -e $dir ]] && ! runuser -u postgres -- test -x "$dir" && return 1
    dir=$(dirname "$dir")
  done
  return 0
}
if [[ -n ${TOTES_PG_ROOT:-} ]]; then
  pg_root=$TOTES_PG_ROOT
elif traversable_by_postgres "$local_dir"; then
  pg_root=$local_dir/postgres
else
  pg_root=/var/tmp/totes-postgres-$(printf '%s' "$local_dir" | md5sum | cut -c1-12)
fi
data_dir=$pg_root/data
socket_dir=$pg_root/run
log_file=$pg_root/server.log

require_binaries() {
  if [[ ! -x $pg_bin/initdb ]]; then
    log "PostgreSQL 15 server binaries not found in $pg_bin (Debian package postgresql-15); set PG_BIN to override"
    exit 1
  fi
  if ! id postgres >/dev/null 2>&1; then
    log "the 'postgres' system user does not exist; install Debian's postgresql-15 package"
    exit 1
  fi
}

check_traversable() {
  if ! traversable_by_postgres "$pg_root"; then
    log "the postgres user cannot enter every folder above $pg_root; set TOTES_PG_ROOT to a folder it can reach"
    exit 1
  fi
}

is_running() { [[ -f $data_dir/postmaster.pid ]] && as_postgres "$pg_bin/pg_ctl" -D "$data_dir" status >/dev/null 2>&1; }

new_password() { head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24; }

# Secrets are shaped like the Secrets Manager secrets Terraform creates, so the jobs read both the same way.
write_secret() {
  local name=$1 user=$2 dbname=$3 file=$secrets_dir/$1.json password
  if [[ -f $file ]]; then
    password=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["password"])' "$file")
  else
    password=$(new_password)
  fi
  umask 077
  cat >"$file" <<JSON
{"engine": "postgres", "host": "127.0.0.1", "port": $port, "dbname": "$dbname", "username": "$user", "password": "$password"}
JSON
  printf '%s' "$password"
}

psql_admin() { as_postgres "$pg_bin/../bin/psql" -h "$socket_dir" -p "$port" -U postgres -X -q -v ON_ERROR_STOP=1 "$@"; }

bootstrap_roles() {
  mkdir -p "$secrets_dir"
  chmod 700 "$local_dir/secrets" "$secrets_dir"
  local owner_pw reader_pw loader_pw wh_reader_pw catalog_pw
  owner_pw=$(write_secret source-db-owner totesys_owner totesys)
  reader_pw=$(write_secret source-db totesys_reader totesys)
  loader_pw=$(write_secret warehouse-db warehouse_loader warehouse)
  wh_reader_pw=$(write_secret warehouse-readonly warehouse_reader warehouse)
  catalog_pw=$(write_secret processed-catalog processed_catalog processed_catalog)
  # Passwords travel on stdin, never on a command line another process could read.
  psql_admin -d postgres <<SQL
SET client_min_messages = warning;
SELECT 'CREATE ROLE totesys_owner LOGIN CREATEDB' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'totesys_owner')\gexec
SELECT 'CREATE ROLE totesys_reader LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'totesys_reader')\gexec
SELECT 'CREATE ROLE warehouse_loader LOGIN CREATEDB' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'warehouse_loader')\gexec
SELECT 'CREATE ROLE warehouse_reader LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'warehouse_reader')\gexec
SELECT 'CREATE ROLE processed_catalog LOGIN CREATEDB' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'processed_catalog')\gexec
ALTER ROLE totesys_owner PASSWORD '$owner_pw';
ALTER ROLE totesys_reader PASSWORD '$reader_pw';
ALTER ROLE warehouse_loader PASSWORD '$loader_pw';
ALTER ROLE warehouse_reader PASSWORD '$wh_reader_pw';
ALTER ROLE processed_catalog PASSWORD '$catalog_pw';
-- The ingestion job may see other sessions' transaction start times: that is what bounds its read window.
GRANT pg_read_all_stats TO totesys_reader;
-- The owners drop throwaway test databases WITH (FORCE), which ends the readers' lingering sessions too.
GRANT pg_signal_backend TO totesys_owner;
GRANT pg_signal_backend TO warehouse_loader;
SELECT 'CREATE DATABASE totesys OWNER totesys_owner' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'totesys')\gexec
SELECT 'CREATE DATABASE warehouse OWNER warehouse_loader' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'warehouse')\gexec
-- The processed zone's Iceberg catalog (Iceberg's JDBC catalog keeps its tables here; the Glue Data Catalog on AWS).
SELECT 'CREATE DATABASE processed_catalog OWNER processed_catalog' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'processed_catalog')\gexec
SQL
}

start() {
  require_binaries
  mkdir -p "$pg_root" "$local_dir"
  chmod 755 "$pg_root"
  check_traversable
  if [[ ! -f $data_dir/PG_VERSION ]]; then
    log "initialising a new cluster in $data_dir"
    mkdir -p "$data_dir" "$socket_dir"
    chown postgres: "$data_dir" "$socket_dir"
    chmod 700 "$data_dir"
    as_postgres "$pg_bin/initdb" -D "$data_dir" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
      --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    cat >>"$data_dir/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$socket_dir'
timezone = 'UTC'
log_timezone = 'UTC'
max_connections = 200
shared_buffers = 512MB
maintenance_work_mem = 512MB
# A throwaway local cluster: trade durability for bulk-load speed.
fsync = off
synchronous_commit = off
full_page_writes = off
max_wal_size = 4GB
CONF
  fi
  mkdir -p "$socket_dir"
  touch "$log_file"
  chown postgres: "$socket_dir" "$log_file"
  if is_running; then
    log "server already running on port $port"
  else
    as_postgres "$pg_bin/pg_ctl" -D "$data_dir" -l "$log_file" -w -t 60 start >/dev/null
    log "server started on 127.0.0.1:$port (log: $log_file)"
  fi
  bootstrap_roles
}

stop() {
  if is_running; then
    as_postgres "$pg_bin/pg_ctl" -D "$data_dir" -m fast -w stop >/dev/null
    log "server stopped"
  else
    log "server not running"
  fi
}

restart() {
  if ! is_running; then
    log "server not running; nothing to restart (use start)"
    exit 1
  fi
  as_postgres "$pg_bin/pg_ctl" -D "$data_dir" -l "$log_file" -m fast -w -t 60 restart >/dev/null
  # pg_ctl -w returns once the postmaster reports ready; a TCP connection attempt is what clients see.
  for _ in $(seq 1 60); do
    as_postgres "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$port" -d postgres && break
    sleep 0.5
  done
  as_postgres "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$port" -d postgres || {
    log "server restarted but does not accept connections on 127.0.0.1:$port (log: $log_file)"
    exit 1
  }
  log "server restarted on 127.0.0.1:$port"
}

status() {
  if is_running; then
    log "running on 127.0.0.1:$port, data in $data_dir"
  else
    log "not running"
    return 3
  fi
}

destroy() {
  stop
  rm -rf "$pg_root"
  log "cluster deleted ($pg_root)"
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  restart) restart ;;
  destroy) destroy ;;
  status) status ;;
  psql) shift; psql_admin -d "${1:-totesys}" ;;
  *) echo "usage: $0 start|stop|restart|status|destroy|psql [db]" >&2; exit 2 ;;
esac
