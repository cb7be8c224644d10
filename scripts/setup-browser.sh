#!/usr/bin/env bash
# Makes a headless Chromium available for the UI test (test/integration/ui.test.ts) and prints its path on stdout.
# Idempotent: when a Chromium is already there it only prints the path.
#
# The browser comes from Debian's `chromium` package rather than playwright's own download: that download is a
# separate CDN the CI machines cannot reach, and Debian's build is kept patched by apt. playwright-core drives it
# through `executablePath`.
#
#   CHROMIUM_PATH   use this executable; nothing is installed
#
# Everything but the final path goes to stderr, so callers can do `chromium="$(bash scripts/setup-browser.sh)"`.
set -euo pipefail

log() { printf '[setup-browser] %s\n' "$*" >&2; }
die() { printf '[setup-browser] ERROR: %s\n' "$*" >&2; exit 1; }

# Prints the first Chromium found, or nothing.
find_chromium() {
  local candidate
  for candidate in chromium /usr/bin/chromium; do
    if command -v "$candidate" >/dev/null 2>&1; then
      command -v "$candidate"
      return
    fi
  done
}

if [[ -n "${CHROMIUM_PATH:-}" ]]; then
  [[ -f "$CHROMIUM_PATH" && -x "$CHROMIUM_PATH" ]] || die "CHROMIUM_PATH=$CHROMIUM_PATH is not an executable file"
  chromium="$CHROMIUM_PATH"
else
  chromium="$(find_chromium)"
fi
if [[ -z "$chromium" ]]; then
  command -v apt-get >/dev/null 2>&1 ||
    die "no chromium found and no apt-get to install it: install Chromium and set CHROMIUM_PATH to its executable"
  if [[ "$(id -u)" -eq 0 ]]; then
    as_root=()
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    # -n: a CI job has no one to type a password, so fail at once instead of hanging on the prompt.
    as_root=(sudo -n)
  else
    die "no chromium found, and installing it needs root: run \`sudo apt-get install chromium\` or set CHROMIUM_PATH"
  fi
  log "no chromium found; installing Debian's chromium package (apt-get, takes a minute or two)"
  # Two concurrent apt runs would fail on the dpkg lock; serialize ours with other runs of this script.
  lock="${TMPDIR:-/tmp}/curator-setup-browser.lock"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$lock"
    flock 9
  fi
  # Another run may have installed it while we waited for the lock.
  chromium="$(find_chromium)"
  if [[ -z "$chromium" ]]; then
    export DEBIAN_FRONTEND=noninteractive
    # apt's output goes to stderr: stdout carries only the path.
    "${as_root[@]}" apt-get update >&2 || die "apt-get update failed"
    "${as_root[@]}" apt-get install -y --no-install-recommends chromium >&2 ||
      die "apt-get install chromium failed (see above); or install Chromium yourself and set CHROMIUM_PATH"
    chromium="$(find_chromium)"
    [[ -n "$chromium" ]] || die "the chromium package installed, but no chromium executable is on PATH"
  fi
fi

version="$("$chromium" --version 2>/dev/null)" || die "$chromium does not run (\`$chromium --version\` failed)"
version="${version%%$'\n'*}"
log "using $version at $chromium"
printf '%s\n' "$chromium"
