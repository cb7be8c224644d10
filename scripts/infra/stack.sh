#!/usr/bin/env bash
# The production-shaped stack on one box, loopback only, no containers: PostgreSQL 15 (Debian), a Temporal cluster of
# two server hosts sharing that PostgreSQL, an S3-compatible store (versitygw over a POSIX directory), and N worker
# "machines". A machine is a network namespace (its own loopback) plus a persistent mount namespace whose local disk
# is a size-limited tmpfs; it reaches the shared services only through socat relays over unix sockets, so cutting it
# off is stopping its relays. Everything lives under $CURATOR_INFRA_CACHE (default
# ~/.cache/temporal-curator/infra); binaries come from scripts/infra/build.sh. Needs root (namespaces).
#
#   stack.sh up [N]             build what is missing, start what is down, make N machines (default 3); idempotent
#   stack.sh status             each piece: up or down, its address, its log or data
#   stack.sh env [MACHINE]      the environment a worker needs (inside MACHINE, or from the root namespace)
#   stack.sh exec MACHINE CMD…  run CMD on MACHINE with that environment (its network, its disk)
#   stack.sh down [--purge]     stop everything (--purge also deletes the data: databases, objects, disks)
#
# Worker machines are m1, m2, …; each sees Temporal at 127.0.0.1:7233 (a relay that prefers one host and fails over
# to the other per connection), PostgreSQL and the store at the root namespace's addresses, and its disk at
# $CURATOR_INFRA_CACHE/run/disk. Other paths of the box stay visible (the code, node_modules): a machine has its own
# network and disk, not its own filesystem.
#
# Helpers for the chaos test:
#   stack.sh kill-host H        SIGKILL Temporal host H (1 or 2); `stack.sh start-host H` brings it back
#   stack.sh kill-machine M     SIGKILL every process of machine M and delete its disk (the machine is gone);
#                               `stack.sh add-machine M` makes a fresh one under that name
#   stack.sh cut-machine M [S]  stop M's relays (a network partition); heal after S seconds, or with heal-machine
#   stack.sh heal-machine M     restart M's relays
#   stack.sh restart-store      SIGTERM the object store and start it again on the same data
#   stack.sh expose M PORT TARGET  let machine M reach 127.0.0.1:TARGET of the root namespace at its 127.0.0.1:PORT
#                               (e.g. the simulator standing in for the provider's API); cut and healed with the rest
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

PGBIN="/usr/lib/postgresql/$PG_MAJOR/bin"
PG_DIR="$INFRA_RUN/pg"
S3_DIR="$INFRA_RUN/s3"
MACHINES_DIR="$INFRA_RUN/machines"
MNT_NS_DIR="$INFRA_RUN/mntns"       # bind mounts that keep each machine's mount namespace alive
DISK_MOUNTPOINT="$INFRA_RUN/disk"   # every machine sees its own disk here (empty in the root namespace)
MACHINE_DISK_SIZE="${CURATOR_INFRA_DISK_SIZE:-2g}"
NETNS_PREFIX="curator-m"
# The port a machine reaches Temporal on: a relay that prefers one host and falls back to the other, as a load
# balancer in front of the frontends would.
MACHINE_TEMPORAL_PORT=7233

TEMPORAL_CLI="${TEMPORAL_CLI_PATH:-$ROOT/.tools/temporal/bin/temporal}"
[[ -x "$TEMPORAL_CLI" ]] || TEMPORAL_CLI="$(command -v temporal || true)"

# ------------------------------------------------------------------------------------------------ process helpers

# A zombie is dead: here PID 1 reaps orphans only every second or so, and a stop must not wait for that.
pid_alive() {
  [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null || return 1
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z ]]
}
pidfile_alive() { [[ -f "$1" ]] && pid_alive "$(cat "$1")"; }

# start_daemon PIDFILE LOG CMD…: starts CMD in its own session (so that a stop takes its children too).
start_daemon() {
  local pidfile=$1 log=$2
  shift 2
  setsid "$@" >>"$log" 2>&1 </dev/null &
  echo $! >"$pidfile"
}

# stop_daemon PIDFILE [SIGNAL]: signals the daemon's whole session and waits for it to go.
stop_daemon() {
  local pidfile=$1 sig=${2:-TERM} pid i
  [[ -f "$pidfile" ]] || return 0
  pid=$(cat "$pidfile")
  if pid_alive "$pid"; then
    kill "-$sig" -- "-$pid" 2>/dev/null || kill "-$sig" "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do
      pid_alive "$pid" || break
      sleep 0.1
    done
    pid_alive "$pid" && kill -KILL -- "-$pid" 2>/dev/null
  fi
  rm -f "$pidfile"
}

wait_for() { # wait_for SECONDS DESCRIPTION CMD…
  local limit=$1 what=$2 i
  shift 2
  for i in $(seq 1 $((limit * 4))); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.25
  done
  infra_die "$what not ready after ${limit}s"
}

# ------------------------------------------------------------------------------------------------ PostgreSQL

# postgres refuses to run as root. Rather than loosen the permissions of the cache (under /root), it runs in a user
# namespace as the `postgres` user mapped onto the caller: the files stay the caller's, postgres sees a non-root uid.
as_postgres() { unshare --user --map-user="$(id -u postgres)" --map-group="$(id -g postgres)" "$@"; }
psql_admin() { psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qtA "$@"; }

pg_up() {
  mkdir -p "$PG_DIR"
  if [[ ! -f "$PG_DIR/data/PG_VERSION" ]]; then
    infra_log "initdb $PG_DIR/data"
    as_postgres "$PGBIN/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log"
  fi
  if ! "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; then
    infra_log "starting PostgreSQL $PG_MAJOR (127.0.0.1:$PG_PORT, data $PG_DIR/data)"
    # fsync=off: test data only; a crash of the whole box may lose the last transactions.
    as_postgres "$PGBIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -s -o \
      "-c listen_addresses=127.0.0.1 -p $PG_PORT -c unix_socket_directories=$PG_DIR -c fsync=off -c max_connections=300" start
  fi
  psql_admin -f "$ROOT/deploy/postgres/init.sql" >/dev/null
}

pg_down() {
  [[ -f "$PG_DIR/data/postmaster.pid" ]] || return 0
  as_postgres "$PGBIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -s stop || true
}

# ------------------------------------------------------------------------------------------------ Temporal

temporal_setup() { # temporal_setup schema|namespace: deploy/temporal/setup.sh, as docker-compose runs it
  SQL_HOST=127.0.0.1 SQL_PORT=$PG_PORT SQL_USER=temporal SQL_PASSWORD=temporal \
    TEMPORAL_ADDRESS="127.0.0.1:$(temporal_port 1)" TEMPORAL_NAMESPACE="$TEMPORAL_NAMESPACE" \
    TEMPORAL_SQL_TOOL="$TEMPORAL_BIN_DIR/temporal-sql-tool" TEMPORAL_CLI="$TEMPORAL_CLI" \
    "$ROOT/deploy/temporal/setup.sh" "$1" >>"$INFRA_RUN/temporal-setup.log" 2>&1 ||
    infra_die "deploy/temporal/setup.sh $1 failed (see $INFRA_RUN/temporal-setup.log)"
}

cluster_health() { "$TEMPORAL_CLI" operator cluster health --address "127.0.0.1:$(temporal_port "$1")" | grep -q SERVING; }

start_host() {
  local h=$1 dir
  dir="$INFRA_RUN/temporal-$h"
  pidfile_alive "$dir/server.pid" && return 0
  mkdir -p "$dir"
  infra_log "starting Temporal host $h (frontend 127.0.0.1:$(temporal_port "$h"))"
  # deploy/temporal/config.yaml, as docker-compose uses it, with this host's ports.
  TEMPORAL_PG_ADDRESS="127.0.0.1:$PG_PORT" TEMPORAL_BIND_IP=127.0.0.1 TEMPORAL_PORT_BASE="$(temporal_port "$h")" \
    TEMPORAL_FRONTEND_SEED="127.0.0.1:$(temporal_port 1)" \
    TEMPORAL_DYNAMIC_CONFIG="$ROOT/deploy/temporal/dynamicconfig/development-sql.yaml" \
    start_daemon "$dir/server.pid" "$dir/server.log" \
    "$TEMPORAL_BIN_DIR/temporal-server" --config-file "$ROOT/deploy/temporal/config.yaml" --allow-no-auth start
  wait_for 120 "Temporal host $h" cluster_health "$h"
}

# ------------------------------------------------------------------------------------------------ object store

# S3 wants x-amz-content-sha256 on every request; curl signs whatever value the header gives.
s3_curl() {
  curl -sS -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" --aws-sigv4 "aws:amz:$S3_REGION:s3" \
    --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" "$@"
}

start_store() {
  if ! pidfile_alive "$S3_DIR/versitygw.pid"; then
    mkdir -p "$S3_DIR/data"
    infra_log "starting versitygw (S3 on 127.0.0.1:$S3_PORT, objects in $S3_DIR/data)"
    ROOT_ACCESS_KEY_ID="$S3_ACCESS_KEY" ROOT_SECRET_ACCESS_KEY="$S3_SECRET_KEY" \
      start_daemon "$S3_DIR/versitygw.pid" "$S3_DIR/versitygw.log" \
      "$VERSITYGW_BIN_DIR/versitygw" --port "127.0.0.1:$S3_PORT" posix "$S3_DIR/data"
    wait_for 30 "versitygw" curl -s -o /dev/null "http://127.0.0.1:$S3_PORT/"
  fi
  local code
  code=$(s3_curl -o /dev/null -w '%{http_code}' -I "http://127.0.0.1:$S3_PORT/$S3_BUCKET")
  if [[ $code == 404 ]]; then
    s3_curl -X PUT -o /dev/null "http://127.0.0.1:$S3_PORT/$S3_BUCKET"
  elif [[ $code != 200 ]]; then
    infra_die "HEAD bucket $S3_BUCKET answered $code"
  fi
}

# ------------------------------------------------------------------------------------------------ machines

machine_ns() { echo "$NETNS_PREFIX$1"; }
machine_names() { ls "$MACHINES_DIR" 2>/dev/null | sort -n | sed 's/^/m/' || true; }
machine_num() { local m=${1#m}; [[ $m =~ ^[0-9]+$ ]] || infra_die "machine names are m1, m2, …: '$1'"; echo "$m"; }

# A relay pair per service and machine: root side unix socket -> 127.0.0.1:PORT, machine side 127.0.0.1:PORT -> socket.
# Per-machine sockets, so that cutting one machine off leaves the others connected.
relay_specs() { # relay_specs N: lines of "name machine-port target…" (targets tried in order, per connection)
  local n=$1 first second
  first=$(temporal_port $(((n - 1) % TEMPORAL_HOSTS + 1)))
  second=$(temporal_port $((n % TEMPORAL_HOSTS + 1)))
  echo "temporal $MACHINE_TEMPORAL_PORT $first $second"
  echo "s3 $S3_PORT $S3_PORT"
  echo "pg $PG_PORT $PG_PORT"
  # Services of the caller (stack.sh expose), one line "port-PORT PORT TARGET" each.
  cat "$MACHINES_DIR/$n/exposed" 2>/dev/null || true
}

expose_port() { # expose_port N PORT TARGET
  local n=$1 port=$2 target=$3 dir
  dir="$MACHINES_DIR/$n"
  [[ -d $dir ]] || infra_die "no machine m$n (stack.sh up)"
  [[ $port =~ ^[0-9]+$ && $target =~ ^[0-9]+$ ]] || infra_die "expose: ports are numbers: '$port' '$target'"
  grep -v "^port-$port " "$dir/exposed" 2>/dev/null >"$dir/exposed.new" || true
  echo "port-$port $port $target" >>"$dir/exposed.new"
  mv "$dir/exposed.new" "$dir/exposed"
  # A new target for a port already relayed: the old relay pair goes, start_relays makes the new one.
  stop_daemon "$dir/pids/port-$port-root.pid" KILL
  stop_daemon "$dir/pids/port-$port-machine.pid" KILL
  start_relays "$n"
}

start_relays() {
  local n=$1 dir name port targets sock connect t
  dir="$MACHINES_DIR/$n"
  mkdir -p "$dir/sock" "$dir/pids"
  while read -r name port targets; do
    sock="$dir/sock/$name.sock"
    if ! pidfile_alive "$dir/pids/$name-root.pid"; then
      if [[ $targets == *" "* ]]; then
        # Failover per connection: the first target that accepts the connect carries it; a connection that breaks
        # later is not redone elsewhere (the client reconnects, and lands on whichever target is up).
        connect="$dir/connect-$name.sh"
        {
          echo '#!/usr/bin/env bash'
          for t in $targets; do echo "exec 3<>/dev/tcp/127.0.0.1/$t 2>/dev/null && exec socat - FD:3"; done
          echo 'exit 1'
        } >"$connect"
        chmod +x "$connect"
        connect="EXEC:$connect"
      else
        connect="TCP:127.0.0.1:$targets"
      fi
      start_daemon "$dir/pids/$name-root.pid" "$dir/relays.log" socat "UNIX-LISTEN:$sock,fork,unlink-early" "$connect"
    fi
    if ! pidfile_alive "$dir/pids/$name-machine.pid"; then
      start_daemon "$dir/pids/$name-machine.pid" "$dir/relays.log" \
        ip netns exec "$(machine_ns "$n")" socat "TCP-LISTEN:$port,bind=127.0.0.1,fork,reuseaddr" "UNIX-CONNECT:$sock"
    fi
  done < <(relay_specs "$n")
}

stop_relays() { # stop_relays N [root|all]: root = only the root side (the machine's listeners stay, connects fail)
  local n=$1 which=${2:-all} f
  for f in "$MACHINES_DIR/$n"/pids/*-root.pid; do stop_daemon "$f" KILL; done
  if [[ $which == all ]]; then
    for f in "$MACHINES_DIR/$n"/pids/*-machine.pid; do stop_daemon "$f" KILL; done
  fi
}

make_machine() {
  local n=$1 ns
  ns=$(machine_ns "$n")
  mkdir -p "$MACHINES_DIR/$n" "$MNT_NS_DIR" "$DISK_MOUNTPOINT"
  [[ -e "/run/netns/$ns" ]] || { ip netns add "$ns" && ip netns exec "$ns" ip link set lo up; }
  if ! mountpoint -q "$MNT_NS_DIR/$n"; then
    # A persistent mount namespace needs its bind mount on a private mount.
    mountpoint -q "$MNT_NS_DIR" || { mount --bind "$MNT_NS_DIR" "$MNT_NS_DIR" && mount --make-private "$MNT_NS_DIR"; }
    touch "$MNT_NS_DIR/$n"
    unshare --mount="$MNT_NS_DIR/$n" --propagation private true
    nsenter --mount="$MNT_NS_DIR/$n" mount -t tmpfs -o "size=$MACHINE_DISK_SIZE,mode=0755" "machine-m$n" "$DISK_MOUNTPOINT"
  fi
  start_relays "$n"
}

machine_pids() { ip netns pids "$(machine_ns "$1")" 2>/dev/null || true; }

remove_machine() { # remove_machine N: every process killed, disk and namespaces gone
  local n=$1 pids
  stop_relays "$n"
  pids=$(machine_pids "$n")
  [[ -n $pids ]] && kill -KILL $pids 2>/dev/null || true
  if mountpoint -q "$MNT_NS_DIR/$n"; then umount "$MNT_NS_DIR/$n"; fi # the last reference: the tmpfs disk goes with it
  rm -f "$MNT_NS_DIR/$n"
  ip netns del "$(machine_ns "$n")" 2>/dev/null || true
  rm -rf "${MACHINES_DIR:?}/$n"
}

# ------------------------------------------------------------------------------------------------ environment

print_env() { # print_env [MACHINE]: addresses as seen from the machine, or from the root namespace
  local temporal_addr
  if [[ -n ${1:-} ]]; then
    temporal_addr="127.0.0.1:$MACHINE_TEMPORAL_PORT"
    echo "CURATOR_CACHE_DIR=$DISK_MOUNTPOINT/curator"
  else
    temporal_addr="127.0.0.1:$(temporal_port 1)"
  fi
  cat <<ENV
TEMPORAL_ADDRESS=$temporal_addr
TEMPORAL_NAMESPACE=$TEMPORAL_NAMESPACE
CURATOR_DATABASE_URL=postgres://curator:curator@127.0.0.1:$PG_PORT/curator
CURATOR_STORAGE=s3://$S3_BUCKET/runs
AWS_ENDPOINT_URL_S3=http://127.0.0.1:$S3_PORT
AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY
AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY
AWS_REGION=$S3_REGION
ENV
}

# ------------------------------------------------------------------------------------------------ commands

require_root() { [[ $(id -u) -eq 0 ]] || infra_die "the stack needs root (network and mount namespaces)"; }

cmd_up() {
  local machines=${1:-3} n
  require_root
  [[ -x "$TEMPORAL_CLI" ]] || infra_die "no temporal CLI: run scripts/setup.sh (or set TEMPORAL_CLI_PATH)"
  "$(dirname "${BASH_SOURCE[0]}")/build.sh" all
  mkdir -p "$INFRA_RUN"
  pg_up
  temporal_setup schema
  for n in $(seq 1 "$TEMPORAL_HOSTS"); do start_host "$n"; done
  temporal_setup namespace
  start_store
  for n in $(seq 1 "$machines"); do make_machine "$n"; done
  cmd_status
}

cmd_status() {
  local n state
  show() { printf '  %-22s %-7s %s\n' "$1" "$2" "$3"; }
  echo "stack under $INFRA_CACHE"
  if "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; then state=up; else state=down; fi
  show postgresql "$state" "127.0.0.1:$PG_PORT (socket dir $PG_DIR)"
  for n in $(seq 1 "$TEMPORAL_HOSTS"); do
    if pidfile_alive "$INFRA_RUN/temporal-$n/server.pid" && cluster_health "$n" 2>/dev/null; then
      state=up
    else state=down; fi
    show "temporal host $n" "$state" "127.0.0.1:$(temporal_port "$n") (log $INFRA_RUN/temporal-$n/server.log)"
  done
  if pidfile_alive "$S3_DIR/versitygw.pid"; then state=up; else state=down; fi
  show "s3 (versitygw)" "$state" "http://127.0.0.1:$S3_PORT bucket $S3_BUCKET (data $S3_DIR/data)"
  for m in $(machine_names); do
    n=$(machine_num "$m")
    state=up
    for f in "$MACHINES_DIR/$n"/pids/*.pid; do pidfile_alive "$f" || state=cut; done
    show "machine $m" "$state" "netns $(machine_ns "$n"), disk $DISK_MOUNTPOINT (tmpfs $MACHINE_DISK_SIZE), pids: $(machine_pids "$n" | wc -l)"
  done
  echo "environment inside a machine (stack.sh exec mN CMD…):"
  print_env m1 | sed 's/^/  /'
}

cmd_exec() {
  local m=$1 n
  shift
  [[ ${1:-} == -- ]] && shift
  n=$(machine_num "$m")
  [[ -e "$MNT_NS_DIR/$n" ]] || infra_die "no machine $m (stack.sh up)"
  local envs=()
  mapfile -t envs < <(print_env "$m")
  # --wd: entering a mount namespace otherwise starts the command in its root directory.
  exec nsenter --net="/run/netns/$(machine_ns "$n")" --mount="$MNT_NS_DIR/$n" --wd="$PWD" env "${envs[@]}" "$@"
}

cmd_down() {
  local purge=${1:-} n m f
  for m in $(machine_names); do remove_machine "$(machine_num "$m")"; done
  mountpoint -q "$MNT_NS_DIR" && umount "$MNT_NS_DIR"
  stop_daemon "$S3_DIR/versitygw.pid"
  for n in $(seq 1 "$TEMPORAL_HOSTS"); do
    f="$INFRA_RUN/temporal-$n/server.pid"
    stop_daemon "$f"
  done
  pg_down
  if [[ $purge == --purge ]]; then
    rm -rf "${INFRA_RUN:?}"
    infra_log "data deleted ($INFRA_RUN); binaries kept in $INFRA_BIN"
  fi
  infra_log "stack down"
}

main() {
  case "${1:-}" in
    up) cmd_up "${2:-3}" ;;
    status) cmd_status ;;
    env) print_env "${2:-}" ;;
    exec) shift && cmd_exec "$@" ;;
    down) cmd_down "${2:-}" ;;
    start-host) require_root && start_host "$2" ;;
    kill-host)
      stop_daemon "$INFRA_RUN/temporal-$2/server.pid" KILL
      infra_log "Temporal host $2 killed"
      ;;
    kill-machine)
      remove_machine "$(machine_num "$2")"
      infra_log "machine $2 killed, its disk deleted"
      ;;
    add-machine) make_machine "$(machine_num "$2")" ;;
    cut-machine)
      stop_relays "$(machine_num "$2")" root
      infra_log "machine $2 cut off"
      if [[ -n ${3:-} ]]; then
        sleep "$3"
        start_relays "$(machine_num "$2")"
        infra_log "machine $2 reconnected after $3 s"
      fi
      ;;
    heal-machine) start_relays "$(machine_num "$2")" ;;
    expose) expose_port "$(machine_num "$2")" "$3" "$4" ;;
    restart-store)
      stop_daemon "$S3_DIR/versitygw.pid"
      start_store
      ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' && exit 2 ;;
  esac
}

# Sourced (e.g. to call one step while debugging), it only defines the functions.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
