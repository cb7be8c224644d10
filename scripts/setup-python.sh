#!/usr/bin/env bash
# A Python environment with pyarrow and Hugging Face `datasets`, for the test that proves Python users can read our
# Arrow and Parquet output (test/integration/python-read.test.ts) and for trying the README's Python snippets.
#
# Creates the venv .tools/pyenv (git-ignored) and pip-installs the pinned versions below. Idempotent: a stamp file
# records what was installed, so a warm run only compares it and returns at once. Changing a pin reinstalls.
#
#   PYTHON=/path/to/python3   the interpreter the venv is made from (default: python3 on PATH; 3.10 or newer)
#
# Prints the venv's python as the last line of its output.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
VENV="$TOOLS/pyenv"
STAMP="$VENV/.installed"
LOG="$TOOLS/pyenv-install.log"
PYARROW_VERSION="26.0.1"
DATASETS_VERSION="5.2.0"
WANT="pyarrow==$PYARROW_VERSION datasets==$DATASETS_VERSION"

log() { printf '[setup-python] %s\n' "$*" >&2; }
die() { printf '[setup-python] ERROR: %s\n' "$*" >&2; exit 1; }

# The warm path: no lock, no Python start-up (importing datasets alone takes seconds).
if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]; then
  echo "$VENV/bin/python"
  exit 0
fi

mkdir -p "$TOOLS"
# Two test runs (or a test and a developer) installing into one venv at once would corrupt it.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$TOOLS/.pyenv.lock"
  flock 9
  if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]; then
    echo "$VENV/bin/python"
    exit 0
  fi
fi

PY="${PYTHON:-python3}"
command -v "$PY" >/dev/null 2>&1 || die "$PY not found: install Python 3.10+ or set PYTHON"
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' ||
  die "$("$PY" --version 2>&1) is too old: pyarrow $PYARROW_VERSION and datasets $DATASETS_VERSION need Python 3.10+"

start=$SECONDS
log "installing $WANT into $VENV (log: $LOG) ..."
rm -f "$STAMP"
# A venv left broken by an interrupted run (no python, or no pip) is rebuilt rather than patched.
if ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
  rm -rf "$VENV"
  "$PY" -m venv "$VENV" >"$LOG" 2>&1 || {
    tail -n 20 "$LOG" >&2
    die "python -m venv failed (on Debian/Ubuntu: apt-get install python3-venv)"
  }
fi
# shellcheck disable=SC2086 # WANT is a list of requirement specifiers
"$VENV/bin/python" -m pip install --disable-pip-version-check --no-input --quiet $WANT >>"$LOG" 2>&1 || {
  tail -n 40 "$LOG" >&2
  die "pip install $WANT failed (full log: $LOG)"
}
"$VENV/bin/python" - "$PYARROW_VERSION" "$DATASETS_VERSION" >>"$LOG" 2>&1 <<'EOF' || die "the installed packages do not import or have the wrong versions (log: $LOG)"
import sys
import pyarrow
import datasets
assert (pyarrow.__version__, datasets.__version__) == (sys.argv[1], sys.argv[2]), (pyarrow.__version__, datasets.__version__)
EOF
printf '%s' "$WANT" >"$STAMP"
log "installed in $((SECONDS - start))s"
echo "$VENV/bin/python"
