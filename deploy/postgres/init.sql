-- Roles and the curator database, for scripts/infra/stack.sh (psql as the superuser, on every start) and for
-- docker-compose.yml (/docker-entrypoint-initdb.d, once on an empty volume). Safe to run again.
-- temporal: owns the temporal and temporal_visibility databases (temporal-sql-tool creates them).
-- curator: the metadata of runs (CURATOR_DATABASE_URL) and, if chosen, the shared rate limits and leases.
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L CREATEDB', r, r)
  FROM unnest(ARRAY['temporal', 'curator']) AS r
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r)
\gexec
SELECT 'CREATE DATABASE curator OWNER curator'
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'curator')
\gexec
