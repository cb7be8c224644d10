#!/usr/bin/env bash
# Builds the binaries of the production-shaped stack, once per machine, without internet (Go module proxy and Debian
# packages only) and without containers. Each step is skipped when its versioned output exists in the cache
# ($CURATOR_INFRA_CACHE, default ~/.cache/temporal-curator/infra). Builds run at `nice -n 19` with `go build -p 1`:
# other people's benchmarks share this machine, and a build must only take what they leave; CI, alone on its
# machine, sets CURATOR_INFRA_BUILD_JOBS to its core count.
#
#   scripts/infra/build.sh [temporal|versitygw|packages|all]     (default: all)
#
# Each build's wall time is appended to $CURATOR_INFRA_CACHE/logs/build-times.txt. With CURATOR_INFRA_NO_BUILD=1 a
# missing binary is an error instead of a build: CI builds within a time budget before the tests, and a test must not
# then start the build again without one.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mkdir -p "$INFRA_BIN" "$INFRA_LOGS"

timed() { # timed NAME CMD...: runs CMD and records its wall time
  local name=$1 start end
  shift
  start=$(date +%s)
  "$@"
  end=$(date +%s)
  printf '%s %s %ss\n' "$(date -u +%FT%TZ)" "$name" "$((end - start))" >>"$INFRA_LOGS/build-times.txt"
  infra_log "$name built in $((end - start)) s"
}

# go install into a scratch GOBIN, then move the binaries into place: an interrupted build leaves nothing that a
# later run would mistake for a finished one.
go_install() { # go_install DEST_DIR TOOLCHAIN PKG@VER:NAME...
  local dest=$1 toolchain=$2 tmp spec
  shift 2
  [[ ${CURATOR_INFRA_NO_BUILD:-0} != 1 ]] || infra_die "$dest is not built, and CURATOR_INFRA_NO_BUILD=1"
  tmp="$dest.partial"
  # One build of a component at a time (two `stack.sh up` at once would otherwise remove each other's output).
  exec 8>"$dest.lock"
  flock 8
  if [[ -d $dest ]]; then
    infra_log "$dest: built meanwhile by another run"
    return
  fi
  rm -rf "$tmp" && mkdir -p "$tmp"
  for spec in "$@"; do
    GOTOOLCHAIN="$toolchain" GOBIN="$tmp" nice -n 19 go install -p "${CURATOR_INFRA_BUILD_JOBS:-1}" -trimpath -ldflags="-s -w" "${spec%%:*}"
    local built
    built="$tmp/$(basename "${spec%%@*}")"
    [[ $built == "$tmp/${spec##*:}" ]] || mv "$built" "$tmp/${spec##*:}"
  done
  rm -rf "$dest" && mv "$tmp" "$dest"
}

build_temporal() {
  if [[ -x "$TEMPORAL_BIN_DIR/temporal-server" && -x "$TEMPORAL_BIN_DIR/temporal-sql-tool" ]]; then
    infra_log "temporal $TEMPORAL_SERVER_VERSION: cached in $TEMPORAL_BIN_DIR"
    return
  fi
  infra_log "building temporal server $TEMPORAL_SERVER_VERSION (~10-20 min at nice 19) -> $TEMPORAL_BIN_DIR"
  timed "temporal-$TEMPORAL_SERVER_VERSION" go_install "$TEMPORAL_BIN_DIR" "$TEMPORAL_GOTOOLCHAIN" \
    "go.temporal.io/server/cmd/server@$TEMPORAL_SERVER_VERSION:temporal-server" \
    "go.temporal.io/server/cmd/tools/sql@$TEMPORAL_SERVER_VERSION:temporal-sql-tool"
}

build_versitygw() {
  if [[ -x "$VERSITYGW_BIN_DIR/versitygw" ]]; then
    infra_log "versitygw $VERSITYGW_VERSION: cached in $VERSITYGW_BIN_DIR"
    return
  fi
  infra_log "building versitygw $VERSITYGW_VERSION (cold: ~12 min on a busy 2-core box, mostly module downloads; see logs/build-times.txt) -> $VERSITYGW_BIN_DIR"
  # go.mod says go 1.25: the machine's Go is enough, so no toolchain download.
  timed "versitygw-$VERSITYGW_VERSION" go_install "$VERSITYGW_BIN_DIR" local \
    "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION:versitygw"
}

# PostgreSQL 15 and socat (the relays between machine namespaces and the shared services) from Debian. apt never
# starts the system cluster here (policy-rc.d); the stack runs its own cluster under the cache.
install_packages() {
  local missing=()
  [[ -x "/usr/lib/postgresql/$PG_MAJOR/bin/postgres" ]] || missing+=("postgresql-$PG_MAJOR")
  command -v socat >/dev/null 2>&1 || missing+=(socat)
  if ((${#missing[@]} == 0)); then
    infra_log "packages: postgresql-$PG_MAJOR and socat present"
    return
  fi
  infra_log "installing ${missing[*]} from Debian"
  [[ $(id -u) -eq 0 ]] || infra_die "installing ${missing[*]} needs root (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive nice -n 19 apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

case "${1:-all}" in
  temporal) build_temporal ;;
  versitygw) build_versitygw ;;
  packages) install_packages ;;
  all)
    install_packages
    build_versitygw
    build_temporal
    ;;
  *) infra_die "usage: $0 [temporal|versitygw|packages|all]" ;;
esac
