#!/usr/bin/env bash
# Build OpenTofu from its Go module at the pinned version, once per machine: the Terraform checks and the deploy
# rehearsal evaluate terraform/ with `tofu console` and `tofu fmt`. Prints the binary's path on stdout.
#
#   scripts/build_tofu.sh
#
# Cached outside the checkout ($TOTES_TOOLS_DIR, default ~/.cache/totes-tools), so a fresh clone on the same
# machine, CI's among them, costs nothing; Go's own module and build caches make a rebuild cheap too. The
# first build here took 3 min 35 s of wall time (5 min of CPU on 2 cores) and 1.5 GB of memory.
set -euo pipefail

# The newest OpenTofu the Go module proxy serves here whose go.mod this machine's Go builds.
version=v1.10.10
module=github.com/opentofu/opentofu
tools_dir=${TOTES_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/totes-tools}
binary=$tools_dir/tofu-$version/tofu

fail() { printf 'build_tofu: %s\n' "$*" >&2; exit 1; }

if [[ -x $binary ]] && "$binary" version 2>/dev/null | grep -q "^OpenTofu ${version}$"; then
  printf '%s\n' "$binary"
  exit 0
fi
# OpenTofu 1.10's go.mod asks for Go 1.24 (Debian 12's golang package is 1.19).
command -v go >/dev/null || fail "go not found: OpenTofu $version is built from its Go module with Go 1.24 or newer"
go_minor=$(go env GOVERSION | sed -n 's/^go1\.\([0-9]*\).*/\1/p')
(( ${go_minor:-0} >= 24 )) || fail "$(go env GOVERSION) is too old: OpenTofu $version needs Go 1.24 or newer"

# `go install module@version` refuses a module whose go.mod has replace directives (OpenTofu's has one), so the
# module's source is downloaded and built in place, with that go.mod as the main module's.
source_dir=$(go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[[ -d $source_dir ]] || fail "go could not download $module@$version"
mkdir -p "$(dirname "$binary")"
started=$SECONDS
GOFLAGS="-buildvcs=false -mod=mod" go build -C "$source_dir" -trimpath \
  -ldflags "-X $module/version.dev=no" -o "$binary.partial" ./cmd/tofu ||
  fail "go build of $module@$version failed"
mv "$binary.partial" "$binary"
printf 'build_tofu: built OpenTofu %s in %ss -> %s\n' "$version" "$((SECONDS - started))" "$binary" >&2
printf '%s\n' "$binary"
