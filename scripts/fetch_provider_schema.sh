#!/usr/bin/env bash
# Fetch the AWS provider schema pinned in terraform/provider-schema.lock: `npm pack` of the cdktf package into a
# temporary folder, its tarball checked against the pinned integrity, and only its .jsii manifest and
# package.json kept, in a git-ignored folder. A folder already holding that version costs nothing.
#
#   scripts/fetch_provider_schema.sh [LOCK [DIR]]
#
# Defaults: <repo>/terraform/provider-schema.lock, and $TOTES_LOCAL_DIR/provider-schema or else
# <repo>/.local/provider-schema. Prints the folder holding .jsii and package.json.
set -euo pipefail

repo_dir=$(cd "$(dirname "$0")/.." && pwd)
lock=${1:-$repo_dir/terraform/provider-schema.lock}
cache_dir=${2:-${TOTES_LOCAL_DIR:-$repo_dir/.local}/provider-schema}

fail() { printf 'fetch_provider_schema: %s\n' "$*" >&2; exit 1; }
pinned() { sed -n "s/^$1 *= *//p" "$lock"; }

package=$(pinned package)
version=$(pinned version)
integrity=$(pinned integrity)
provider=$(pinned provider)
[[ -n $package && -n $version && $integrity == sha512-* && $provider == */*' '* ]] ||
  fail "$lock: expected the lines 'package = ', 'version = ', 'integrity = sha512-...', 'provider = SOURCE VERSION'"

target=$cache_dir/${package//\//+}-$version
if [[ -f $target/.jsii && -f $target/package.json && $(cat "$target/integrity" 2>/dev/null) == "$integrity" ]]; then
  printf '%s\n' "$target"
  exit 0
fi

command -v npm >/dev/null || fail "npm not found (Debian: apt-get install npm); it fetches $package@$version"
mkdir -p "$cache_dir"
work=$(mktemp -d "$cache_dir/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT

npm pack --loglevel=error --pack-destination "$work" "$package@$version" >"$work/npm.log" 2>&1 ||
  fail "npm pack $package@$version failed: $(grep -m 3 "npm error" "$work/npm.log" || tail -n 3 "$work/npm.log")"
tarball=$(find "$work" -maxdepth 1 -name '*.tgz' -print -quit)
[[ -n $tarball ]] || fail "npm pack $package@$version left no tarball: $(tail -n 5 "$work/npm.log")"
actual=$(node -e 'const fs = require("fs"), crypto = require("crypto");
  const digest = crypto.createHash("sha512").update(fs.readFileSync(process.argv[1])).digest("base64");
  process.stdout.write("sha512-" + digest);' "$tarball")
[[ $actual == "$integrity" ]] || fail "$package@$version: the tarball's integrity is $actual, $lock pins $integrity"

mkdir "$work/extract"
tar -xzf "$tarball" -C "$work/extract" package/.jsii package/package.json ||
  fail "$package@$version: no package/.jsii in the tarball"
# The provider version the package was generated from, as its package.json records it (cdktf.provider).
generated_from=$(node -e 'const p = require(process.argv[1]).cdktf.provider;
  process.stdout.write(p.name.split("/").slice(-2).join("/") + " " + p.version);' \
  "$work/extract/package/package.json")
[[ $generated_from == "$provider" ]] ||
  fail "$package@$version was generated from $generated_from, $lock says $provider"
printf '%s\n' "$integrity" >"$work/extract/package/integrity"

rm -rf "$target"
mv "$work/extract/package" "$target"
printf 'fetch_provider_schema: %s@%s (%s) -> %s\n' "$package" "$version" "$provider" "$target" >&2
printf '%s\n' "$target"
