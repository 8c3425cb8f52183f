#!/usr/bin/env bash
# The local AWS API emulator of the deploy rehearsal: moto in server mode (moto[server], requirements.txt) on
# loopback, one endpoint for every service (S3, Secrets Manager, Glue, CloudWatch Logs, EventBridge). Clients
# reach it by configuration only: AWS_ENDPOINT_URL for boto3, fs.s3a.endpoint for Spark's S3A.
#
#   scripts/local_aws.sh start | stop | status
#
# `start` reuses the emulator this script started if it still answers. A port held by another process, or a
# server that does not answer, stops with one line naming the cause.
#
# Environment: TOTES_LOCAL_DIR (default <repo>/.local; the pid file and log go to <it>/aws), TOTES_AWS_PORT
# (default 55433), TOTES_PYTHON (default <repo>/.venv/bin/python).
set -euo pipefail

repo_dir=$(cd "$(dirname "$0")/.." && pwd)
local_dir=${TOTES_LOCAL_DIR:-$repo_dir/.local}
port=${TOTES_AWS_PORT:-55433}
python=${TOTES_PYTHON:-$repo_dir/.venv/bin/python}
state_dir=$local_dir/aws
pid_file=$state_dir/moto-$port.pid
log_file=$state_dir/moto-$port.log
endpoint=http://127.0.0.1:$port
start_timeout_seconds=${TOTES_AWS_START_TIMEOUT:-30}

fail() { printf 'local_aws: %s\n' "$*" >&2; exit 1; }
log() { printf 'local_aws: %s\n' "$*" >&2; }

our_pid() { [[ -f $pid_file ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null && cat "$pid_file"; }
# moto's own API answers GET /moto-api/data.json with the emulated state; nothing else on a port does.
answers_as_moto() { curl -fsS -m 2 -o /dev/null "$endpoint/moto-api/data.json" 2>/dev/null; }
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }
holder_of_port() {
  ss -ltnpH "sport = :$port" 2>/dev/null | grep -o 'users:(("[^"]*",pid=[0-9]*' | head -1 |
    sed 's/users:(("\([^"]*\)",pid=\([0-9]*\)/\1 (pid \2)/'
}

start() {
  if pid=$(our_pid); then
    answers_as_moto || fail "the emulator started earlier (pid $pid) does not answer at $endpoint; see $log_file, or run $0 stop"
    log "running at $endpoint (pid $pid)"
    return
  fi
  rm -f "$pid_file"
  if port_taken; then
    holder=$(holder_of_port)
    fail "port $port is in use by ${holder:-another process}, not by an emulator this script started; set TOTES_AWS_PORT"
  fi
  [[ -x $python ]] || fail "$python not found (make venv installs moto[server])"
  "$python" -c 'import moto.server, flask' 2>/dev/null || fail "moto[server] is not installed in $python (make venv)"
  mkdir -p "$state_dir"
  # Its own session, so that a Ctrl-C in the terminal that started it does not reach it.
  setsid "$python" -m moto.server -H 127.0.0.1 -p "$port" >"$log_file" 2>&1 </dev/null &
  echo $! >"$pid_file"
  for ((tenth = 0; tenth < start_timeout_seconds * 10; tenth++)); do
    if answers_as_moto; then
      log "started at $endpoint (pid $(cat "$pid_file"), log $log_file)"
      return
    fi
    if ! kill -0 "$(cat "$pid_file")" 2>/dev/null; then
      rm -f "$pid_file"
      fail "the emulator exited at start: $(tail -n 1 "$log_file" 2>/dev/null || echo 'no log')"
    fi
    sleep 0.1
  done
  kill "$(cat "$pid_file")" 2>/dev/null || true
  rm -f "$pid_file"
  fail "the emulator did not answer at $endpoint within ${start_timeout_seconds} s (stopped; log $log_file)"
}

stop() {
  if ! pid=$(our_pid); then
    rm -f "$pid_file"
    log "not running (port $port)"
    return
  fi
  kill "$pid"
  for ((tenth = 0; tenth < 100; tenth++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  # The log goes with the server: the tests start emulators on ports of their own, whose logs would pile up.
  rm -f "$pid_file" "$log_file"
  log "stopped (pid $pid)"
}

status() {
  if pid=$(our_pid) && answers_as_moto; then
    log "running at $endpoint (pid $pid)"
  elif pid=$(our_pid); then
    fail "process $pid is running but does not answer at $endpoint"
  else
    fail "not running (port $port)"
  fi
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) fail "usage: $0 start | stop | status" ;;
esac
