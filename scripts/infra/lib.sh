# Shared settings of the infra scripts (sourced, never run). Every path here lives OUTSIDE the clone so that builds,
# data and logs survive a fresh clone on the same machine; override the root with CURATOR_INFRA_CACHE.
# shellcheck shell=bash

INFRA_CACHE="${CURATOR_INFRA_CACHE:-$HOME/.cache/temporal-curator/infra}"

# Pinned versions: a build is skipped when its versioned output directory already holds the binary.
TEMPORAL_SERVER_VERSION="v1.32.2"
TEMPORAL_GOTOOLCHAIN="go1.27.3"        # Temporal >= 1.30 needs go >= 1.26.10; fetched through the Go module proxy
VERSITYGW_VERSION="v1.8.0"
PG_MAJOR=15

INFRA_BIN="$INFRA_CACHE/bin"
TEMPORAL_BIN_DIR="$INFRA_BIN/temporal-$TEMPORAL_SERVER_VERSION"
VERSITYGW_BIN_DIR="$INFRA_BIN/versitygw-$VERSITYGW_VERSION"
INFRA_RUN="$INFRA_CACHE/run"           # pids, logs, sockets and data of the running stack
INFRA_LOGS="$INFRA_CACHE/logs"         # build logs and timings

# Go caches of their own, so that the builds never fight another project's caches (and a later run finds them).
export GOPATH="$INFRA_CACHE/go"
export GOMODCACHE="$INFRA_CACHE/go/pkg/mod"
export GOCACHE="$INFRA_CACHE/go-build"
export GOFLAGS="-buildvcs=false"

# Fixed ports on 127.0.0.1 of the root namespace, away from the embedded dev server (7233/8233) and the simulator,
# and below Linux's ephemeral range (32768-60999): a port in it can be taken by any process's outgoing connection
# at the moment the stack starts (PostgreSQL on 55432 once failed so: "Address already in use").
PG_PORT=15432
S3_PORT=18433
S3_ACCESS_KEY="curator"
S3_SECRET_KEY="curator-secret"
S3_BUCKET="curator"
S3_REGION="us-east-1"
# Temporal host N (1-based) uses 17233+100*(N-1) for frontend gRPC, +1 history, +2 matching, +6 worker, and
# membership ports 16933+100*(N-1) (+1, +2, +6); the frontend's HTTP API is +10.
TEMPORAL_HOSTS=2
TEMPORAL_NAMESPACE="default"
temporal_port() { echo $((17233 + 100 * ($1 - 1))); }

infra_log() { printf '[infra] %s\n' "$*"; }
infra_die() { printf '[infra] ERROR: %s\n' "$*" >&2; exit 1; }
