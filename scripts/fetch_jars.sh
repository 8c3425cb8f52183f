#!/usr/bin/env bash
# Fetch the jars of jvm-dependencies.txt by Maven coordinate with mvn, into a git-ignored folder, and check
# each against its pinned SHA-256. A jar already there with the right checksum costs nothing.
#
#   scripts/fetch_jars.sh [MANIFEST [DIR]]
#
# Defaults: <repo>/jvm-dependencies.txt, and $TOTES_JARS_DIR or else <repo>/.local/jars.
set -euo pipefail

repo_dir=$(cd "$(dirname "$0")/.." && pwd)
manifest=${1:-$repo_dir/jvm-dependencies.txt}
jars_dir=${2:-${TOTES_JARS_DIR:-$repo_dir/.local/jars}}
# The plugin version is pinned too: without one, mvn runs whichever version it resolves on that machine.
dependency_plugin=org.apache.maven.plugins:maven-dependency-plugin:3.8.1

fail() { printf 'fetch_jars: %s\n' "$*" >&2; exit 1; }
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

mkdir -p "$jars_dir"
while read -r coordinate sha256 _; do
  [[ -z $coordinate || $coordinate == \#* ]] && continue
  IFS=: read -r _ artifact version <<<"$coordinate"
  [[ -n $version && ${#sha256} == 64 ]] ||
    fail "$manifest: expected 'group:artifact:version sha256', got '$coordinate $sha256'"
  jar=$jars_dir/$artifact-$version.jar
  [[ -f $jar && $(sha256_of "$jar") == "$sha256" ]] && continue

  command -v mvn >/dev/null || fail "mvn not found (Debian: apt-get install maven); it fetches $coordinate"
  rm -f "$jar"
  log=$jars_dir/mvn-$artifact-$version.log
  # mvn reads stdin; the manifest is on it.
  mvn -B -q -Dstyle.color=never "$dependency_plugin:copy" -Dartifact="$coordinate" -DoutputDirectory="$jars_dir" \
    </dev/null >"$log" 2>&1 || fail "mvn could not fetch $coordinate (its output: $log)"
  rm -f "$log"
  actual=$(sha256_of "$jar")
  if [[ $actual != "$sha256" ]]; then
    rm -f "$jar"
    fail "$coordinate: the jar's SHA-256 is $actual, $manifest pins $sha256 (jar deleted)"
  fi
  printf 'fetch_jars: %s -> %s\n' "$coordinate" "$jar" >&2
done <"$manifest"
