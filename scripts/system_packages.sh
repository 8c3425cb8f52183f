#!/usr/bin/env bash
# Install the Debian packages that provide the tools the Makefile's targets need, only those missing. Each
# target calls it for its own tools, so a machine that has them pays a few look-ups and nothing else.
#
#   scripts/system_packages.sh [--dry-run] [tool ...]     (no tool: every tool below)
#
# As root (a fresh Debian 12 machine, CI) it installs with apt-get, non-interactively, waiting for another
# apt's lock rather than failing, and says in one line what it installs. As another user it installs nothing:
# it names the missing packages and the command to run, and fails. --dry-run only says what it would install.
#
# Environment: PYTHON_BASE (the interpreter the virtualenvs are made from, default python3), PG_BIN (where the
# PostgreSQL 15 server binaries are, default Debian's /usr/lib/postgresql/15/bin), as scripts/local_pg.sh.
# Go is not among the tools: Debian 12's is too old for OpenTofu (scripts/build_tofu.sh checks the version).
set -euo pipefail

# tool -> the Debian package that provides it. Java 17 is what Spark 3.5 and Glue 5.1 run on.
declare -A package_of=(
  [python3-venv]=python3-venv            # `python3 -m venv` with pip: the virtualenvs
  [postgresql]=postgresql-15             # initdb and pg_ctl of the local server (scripts/local_pg.sh)
  [java]=openjdk-17-jre-headless         # Spark's JVM
  [maven]=maven                          # fetches the jars of jvm-dependencies*.txt (scripts/fetch_jars.sh)
  [npm]=npm                              # fetches the provider schema (scripts/fetch_provider_schema.sh)
  [chromium]=chromium                    # the dashboard's browser tests (Playwright drives it)
  [curl]=curl                            # asks the AWS API emulator whether it is up (scripts/local_aws.sh)
  [ps]=procps                            # the rehearsal's tests find the processes it left
)
all_tools=(python3-venv postgresql java maven npm chromium curl ps)

# Whether a tool is present, the way the code that uses it finds it.
present() {
  case $1 in
    python3-venv) "${PYTHON_BASE:-python3}" -c 'import venv, ensurepip' 2>/dev/null ;;
    postgresql) [[ -x ${PG_BIN:-/usr/lib/postgresql/15/bin}/initdb ]] && id -u postgres >/dev/null 2>&1 ;;
    java) command -v java >/dev/null ;;
    maven) command -v mvn >/dev/null ;;
    npm) command -v npm >/dev/null ;;
    chromium | curl | ps) command -v "$1" >/dev/null ;;
  esac
}

say() { printf 'system_packages: %s\n' "$*" >&2; }

dry_run=false
if [[ ${1:-} == --dry-run ]]; then
  dry_run=true
  shift
fi
tools=("$@")
((${#tools[@]})) || tools=("${all_tools[@]}")

missing=()
for tool in "${tools[@]}"; do
  [[ -n ${package_of[$tool]:-} ]] || { say "unknown tool '$tool' (known: ${all_tools[*]})"; exit 2; }
  present "$tool" || missing+=("${package_of[$tool]}")
done

if $dry_run; then
  if ((${#missing[@]})); then say "would install ${missing[*]}"; else say "nothing to install"; fi
  exit 0
fi
((${#missing[@]})) || exit 0

command -v apt-get >/dev/null ||
  { say "missing ${missing[*]} and no apt-get here (not Debian?): install the Debian 12 equivalents"; exit 1; }
if ((EUID != 0)); then
  say "missing ${missing[*]}; as root run: apt-get update && apt-get install -y ${missing[*]}"
  exit 1
fi

say "installing ${missing[*]}"
apt_options=(-qq -o DPkg::Lock::Timeout=300)
update() { apt-get "${apt_options[@]}" update >/dev/null; }
install() { DEBIAN_FRONTEND=noninteractive apt-get "${apt_options[@]}" -y install "${missing[@]}" >"$log" 2>&1; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# A fresh machine has no package lists; old ones may name versions the archive no longer has: then update.
[[ -n $(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -print -quit 2>/dev/null) ]] || update
install || { update && install; } || {
  say "apt-get install ${missing[*]} failed: $(grep -m 3 '^E:' "$log" || tail -n 3 "$log")"
  exit 1
}
