#!/bin/sh
# Prepares a Temporal cluster on PostgreSQL: `schema` creates or upgrades the two databases (before any server
# starts), `namespace` creates the namespace and the search attributes the curator jobs use (once a frontend answers).
# Shared by scripts/infra/stack.sh and docker-compose.yml (admin-tools image), so both stacks are set up alike.
# POSIX sh: the admin-tools image has no bash. Safe to run again.
#
#   SQL_HOST SQL_PORT SQL_USER SQL_PASSWORD    PostgreSQL, for `schema`
#   TEMPORAL_ADDRESS TEMPORAL_NAMESPACE        a frontend, for `namespace`
#   TEMPORAL_SQL_TOOL TEMPORAL_CLI             the binaries (default: from PATH)
set -eu

SQL_TOOL="${TEMPORAL_SQL_TOOL:-temporal-sql-tool}"
CLI="${TEMPORAL_CLI:-temporal}"
NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
# The keys of src/search-attributes.ts (test/unit/docker-compose.test.ts checks the two lists agree).
SEARCH_ATTRIBUTES="CuratorName=Keyword CuratorModel=Keyword CuratorRunHash=Keyword CuratorStatus=Keyword
CuratorRowsTotal=Int CuratorRowsDone=Int"

schema() {
  export SQL_PLUGIN=postgres12
  for db in temporal temporal_visibility; do
    dir=temporal
    [ "$db" = temporal_visibility ] && dir=visibility
    # create-database fails when the database exists; setup-schema -v 0.0 then only records the version table.
    if "$SQL_TOOL" --db "$db" create-database; then
      "$SQL_TOOL" --db "$db" setup-schema -v 0.0
    fi
    # The versioned schema is embedded in the binary: a no-op when current, an upgrade after a server version bump.
    "$SQL_TOOL" --db "$db" update-schema -s "postgresql/v12/$dir"
  done
}

namespace() {
  # SQL-backed servers do not create the default namespace (the dev server does).
  if ! "$CLI" operator namespace describe -n "$NAMESPACE" >/dev/null 2>&1; then
    "$CLI" operator namespace create -n "$NAMESPACE" --retention 72h
  fi
  i=0
  until "$CLI" operator namespace describe -n "$NAMESPACE" >/dev/null 2>&1; do
    i=$((i + 1))
    [ "$i" -lt 120 ] || { echo "namespace $NAMESPACE not visible after 60 s" >&2; exit 1; }
    sleep 0.5
  done
  set --
  for sa in $SEARCH_ATTRIBUTES; do set -- "$@" --name "${sa%=*}" --type "${sa#*=}"; done
  # A host that answered `describe` from the database may still miss a new namespace in its cache (refreshed every
  # few seconds), and then refuses search attributes with "Namespace ... is not found": those calls are retried.
  i=0
  until out=$("$CLI" operator search-attribute list -n "$NAMESPACE" 2>&1) &&
    { printf '%s\n' "$out" | grep -q CuratorRowsDone || out=$("$CLI" operator search-attribute create -n "$NAMESPACE" "$@" 2>&1); }; do
    i=$((i + 1))
    [ "$i" -lt 120 ] || { printf '%s\n' "$out" >&2; echo "search attributes of $NAMESPACE not created after 60 s" >&2; exit 1; }
    sleep 0.5
  done
}

case "${1:-}" in
  schema) schema ;;
  namespace) namespace ;;
  *) echo "usage: $0 schema|namespace" >&2; exit 2 ;;
esac
