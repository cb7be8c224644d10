/**
 * Static checks of the production-shaped docker-compose stack (no Docker needed): services, pinned images,
 * published ports, dependencies, secrets passed through only, volumes, and the files the stack refers to; and that it
 * runs the same components, versions, configuration and worker variables as scripts/infra (the same stack without
 * containers, for the integration tests).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { searchAttributeArgs } from '../../src/search-attributes';

const ROOT = path.resolve(__dirname, '..', '..');
const COMPOSE_FILE = path.join(ROOT, 'docker-compose.yml');

type Service = {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: (string | number | { target?: number; published?: string | number })[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  volumes?: (string | { type?: string; source?: string; target?: string })[];
  healthcheck?: { test?: unknown };
  command?: string | string[];
  entrypoint?: string | string[];
  container_name?: string;
  tmpfs?: string | string[];
};
type Compose = { services?: Record<string, Service>; volumes?: Record<string, unknown> };

const composeText = readFileSync(COMPOSE_FILE, 'utf8');
// `<<: *anchor` merge keys, as docker compose reads them.
const compose = parse(composeText, { merge: true }) as Compose;
const services = compose.services ?? {};

function service(name: string): Service {
  const s = services[name];
  assert.ok(s, `service '${name}' missing from docker-compose.yml`);
  return s;
}

function env(s: Service): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  if (Array.isArray(s.environment)) {
    for (const entry of s.environment) {
      const eq = entry.indexOf('=');
      if (eq < 0) out[entry] = undefined;
      else out[entry.slice(0, eq)] = entry.slice(eq + 1);
    }
  } else {
    for (const [key, value] of Object.entries(s.environment ?? {})) {
      out[key] = value === null ? undefined : String(value);
    }
  }
  return out;
}

type Mount = { source?: string; target: string };
function mounts(s: Service): Mount[] {
  return (s.volumes ?? []).map((v) => {
    if (typeof v === 'string') {
      const parts = v.split(':');
      return parts.length === 1 ? { target: parts[0] } : { source: parts[0], target: parts[1] };
    }
    return { source: v.source, target: v.target ?? '' };
  });
}

function publishedPorts(s: Service): number[] {
  return (s.ports ?? []).flatMap((p) => {
    if (typeof p === 'object') return p.published === undefined ? [] : [Number(p.published)];
    const parts = String(p).split('/')[0].split(':');
    return parts.length >= 2 ? [Number(parts[parts.length - 2])] : [];
  });
}

function dependsOn(s: Service): string[] {
  if (!s.depends_on) return [];
  return Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on);
}

const isBindSource = (source: string | undefined): source is string =>
  !!source && (source.startsWith('.') || source.startsWith('/'));

/** A setting of scripts/infra/lib.sh, as bash sees it. */
function infraSetting(name: string): string {
  return execFileSync('bash', ['-c', `source scripts/infra/lib.sh && printf %s "$${name}"`], { cwd: ROOT }).toString();
}

/** `stack.sh env [machine]`: the variables the script gives a worker (inside a machine, or in the root namespace). */
function infraEnv(machine?: string): Record<string, string> {
  const out = execFileSync('bash', ['scripts/infra/stack.sh', 'env', ...(machine ? [machine] : [])], { cwd: ROOT });
  const lines = out.toString().trim().split('\n');
  return Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
}

/** The value compose gives a variable when the host environment leaves it unset: `${X:-default}` -> default. */
function composeDefault(value: string | undefined): string | undefined {
  return value?.replace(/\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}/g, '$1');
}

const entrypoint = (s: Service) => [s.entrypoint ?? []].flat().join(' ');

test('the services of the stack exist', () => {
  const names = ['postgresql', 'temporal-schema', 'temporal', 'temporal-2', 'temporal-namespace', 'temporal-ui'];
  for (const name of [...names, 's3', 'worker']) service(name);
});

test('images are pinned to explicit tags, never :latest', () => {
  for (const [name, s] of Object.entries(services)) {
    if (!s.image) {
      assert.ok(s.build, `service '${name}' has neither image nor build`);
      continue;
    }
    const lastSegment = s.image.split('/').pop()!;
    const tag = lastSegment.includes('@') ? lastSegment.split('@')[1] : lastSegment.split(':')[1];
    assert.ok(tag, `service '${name}' image '${s.image}' has no tag`);
    assert.notEqual(tag, 'latest', `service '${name}' uses :latest`);
    assert.ok(!tag.includes('${'), `service '${name}' image tag '${tag}' comes from a variable`);
  }
  assert.match(service('postgresql').image ?? '', /^postgres:\d/);
  assert.match(service('temporal').image ?? '', /^temporalio\/server:\d/);
  assert.match(service('temporal-ui').image ?? '', /^temporalio\/ui:\d/);
});

test('Temporal gRPC (7233), the Web UI (8080) and the store are published; the workers publish nothing', () => {
  assert.ok(publishedPorts(service('temporal')).includes(7233), 'temporal does not publish 7233');
  assert.ok(publishedPorts(service('temporal-ui')).includes(8080), 'temporal-ui does not publish 8080');
  assert.equal(env(service('temporal-ui')).TEMPORAL_ADDRESS, 'temporal:7233');
  assert.ok(publishedPorts(service('s3')).includes(Number(infraSetting('S3_PORT'))), 's3 does not publish its port');
  // `docker compose up --scale worker=N` needs replicas without a fixed name or host port.
  assert.deepEqual(publishedPorts(service('worker')), []);
  assert.equal(service('worker').container_name, undefined);
  assert.deepEqual(publishedPorts(service('temporal-2')), [], 'the second host would take the host ports of the first');
});

test('both Temporal hosts wait for the schema, which waits for a healthy postgresql', () => {
  const schema = service('temporal-schema');
  assert.ok(dependsOn(schema).includes('postgresql'), 'temporal-schema does not depend on postgresql');
  if (!Array.isArray(schema.depends_on)) {
    assert.equal(schema.depends_on?.postgresql?.condition, 'service_healthy');
  }
  assert.ok(service('postgresql').healthcheck?.test, 'postgresql has no healthcheck');
  for (const name of ['temporal', 'temporal-2']) {
    const host = service(name);
    assert.ok(dependsOn(host).includes('temporal-schema'), `${name} does not wait for the schema`);
    if (!Array.isArray(host.depends_on)) {
      assert.equal(host.depends_on?.['temporal-schema']?.condition, 'service_completed_successfully');
    }
    assert.equal(env(host).TEMPORAL_PG_ADDRESS, 'postgresql:5432');
  }
  assert.ok(dependsOn(service('worker')).includes('temporal-namespace'), 'worker starts before the namespace exists');
  assert.ok(dependsOn(service('worker')).includes('temporal'), 'worker does not depend on temporal');
});

test('compose runs the components and versions of scripts/infra', () => {
  assert.equal(service('postgresql').image?.split(':')[1].split('.')[0], infraSetting('PG_MAJOR'));
  const temporalVersion = infraSetting('TEMPORAL_SERVER_VERSION').replace(/^v/, '');
  for (const name of ['temporal', 'temporal-2']) {
    assert.equal(service(name).image, `temporalio/server:${temporalVersion}`);
  }
  for (const name of ['temporal-schema', 'temporal-namespace']) {
    assert.equal(service(name).image, `temporalio/admin-tools:${temporalVersion}`);
  }
  assert.equal(service('s3').image, `versity/versitygw:${infraSetting('VERSITYGW_VERSION')}`);
  assert.equal(infraSetting('TEMPORAL_HOSTS'), '2', 'scripts/infra runs another number of Temporal hosts');
});

test('compose and scripts/infra set Temporal and PostgreSQL up from the same files', () => {
  const stackScript = readFileSync(path.join(ROOT, 'scripts/infra/stack.sh'), 'utf8');
  const shared: [file: string, service: string, target: string][] = [
    ['deploy/temporal/config.yaml', 'temporal', '/etc/curator/temporal/config.yaml'],
    ['deploy/temporal/config.yaml', 'temporal-2', '/etc/curator/temporal/config.yaml'],
    ['deploy/temporal/setup.sh', 'temporal-schema', '/etc/curator/temporal/setup.sh'],
    ['deploy/temporal/setup.sh', 'temporal-namespace', '/etc/curator/temporal/setup.sh'],
    ['deploy/postgres/init.sql', 'postgresql', '/docker-entrypoint-initdb.d/init.sql'],
  ];
  for (const [file, name, target] of shared) {
    assert.ok(existsSync(path.join(ROOT, file)), `${file} missing`);
    const mount = mounts(service(name)).find((m) => m.target === target);
    assert.equal(path.normalize(mount?.source ?? ''), path.normalize(file), `${name} does not mount ${file}`);
    assert.ok(stackScript.includes(`$ROOT/${file}`), `scripts/infra/stack.sh does not use ${file}`);
  }
  assert.match(entrypoint(service('temporal-schema')), /setup\.sh schema$/);
  assert.match(entrypoint(service('temporal-namespace')), /setup\.sh namespace$/);
  for (const name of ['temporal', 'temporal-2']) {
    assert.match(entrypoint(service(name)), /temporal-server --config-file\s+\/etc\/curator\/temporal\/config\.yaml/);
  }
  // The search attributes setup.sh registers are the ones the workflows set.
  const setup = readFileSync(path.join(ROOT, 'deploy/temporal/setup.sh'), 'utf8');
  const listed = /SEARCH_ATTRIBUTES="([^"]*)"/.exec(setup)?.[1].split(/\s+/).filter(Boolean).sort();
  const expected = searchAttributeArgs().filter((arg) => arg !== '--search-attribute');
  assert.deepEqual(listed, expected.sort());
});

test('a compose worker gets the variables of a scripts/infra machine, the same values but for host names', () => {
  const machine = infraEnv('m1');
  const worker = env(service('worker'));
  const missing = Object.keys(machine).filter((key) => !(key in worker));
  assert.deepEqual(missing, [], 'variables scripts/infra gives a worker that compose does not');
  for (const key of [
    'TEMPORAL_NAMESPACE',
    'CURATOR_STORAGE',
    'AWS_ACCESS_KEY_ID',
    'AWS_SECRET_ACCESS_KEY',
    'AWS_REGION',
  ]) {
    assert.equal(composeDefault(worker[key]), machine[key], key);
  }
  for (const [key, host] of [
    ['CURATOR_DATABASE_URL', 'postgresql'],
    ['AWS_ENDPOINT_URL_S3', 's3'],
  ]) {
    const ours = new URL(composeDefault(worker[key])!);
    const theirs = new URL(machine[key]);
    assert.equal(ours.hostname, host, key);
    assert.deepEqual(
      [ours.protocol, ours.username, ours.password, ours.pathname],
      [theirs.protocol, theirs.username, theirs.password, theirs.pathname],
      key
    );
  }
  assert.equal(new URL(worker.AWS_ENDPOINT_URL_S3!).port, infraSetting('S3_PORT'));
  // Seen from the root namespace, the script names the same variables (the disk is a machine's own).
  const root = Object.keys(infraEnv()).sort();
  assert.deepEqual(
    root,
    Object.keys(machine)
      .filter((key) => key !== 'CURATOR_CACHE_DIR')
      .sort()
  );
});

test('the worker talks to temporal:7233 and gets API keys only from the host environment', () => {
  const worker = service('worker');
  const e = env(worker);
  assert.equal(e.TEMPORAL_ADDRESS, 'temporal:7233');
  assert.equal(e.CURATOR_CACHE_DIR, '/data/curator');
  for (const key of ['OPENAI_API_KEY', 'ANTHROPIC_API_KEY']) {
    assert.ok(key in e, `${key} is not passed to the worker`);
  }
  for (const [key, value] of Object.entries(e)) {
    if (!/(API_KEY|SECRET|TOKEN)$/.test(key) || value === undefined) continue;
    // Only `${VAR}`, `${VAR:-}` or `${VAR-}`: a reference to the host's variable, with no default value.
    assert.match(value, /^\$\{[A-Za-z_][A-Za-z0-9_]*(:?-)?\}$/, `worker ${key} hardcodes a value: '${value}'`);
  }
  assert.doesNotMatch(composeText, /\bsk-[A-Za-z0-9_-]{8,}/, 'something that looks like an API key is in the file');
  assert.equal(worker.command, 'node bin/curator.js worker --curators /app/examples/curators.js');
});

test('named volumes are declared and hold the database; each worker has a disk of its own', () => {
  const declared = Object.keys(compose.volumes ?? {});
  assert.ok(declared.length > 0, 'no top-level volumes');
  for (const [name, s] of Object.entries(services)) {
    for (const m of mounts(s)) {
      if (m.source && !isBindSource(m.source)) {
        assert.ok(declared.includes(m.source), `service '${name}' mounts undeclared volume '${m.source}'`);
      }
    }
  }
  const pg = mounts(service('postgresql')).find((m) => m.target === '/var/lib/postgresql/data');
  assert.ok(pg?.source && declared.includes(pg.source), 'postgresql data is not on a named volume');
  // A named volume would be one disk shared by every replica of `--scale`; the stack gives each machine a tmpfs of
  // its own, of this size, and the chaos test deletes one with its machine.
  const worker = service('worker');
  assert.equal(
    mounts(worker).find((m) => m.target === '/data/curator'),
    undefined,
    'the worker cache is a shared volume'
  );
  const diskSize = execFileSync('bash', ['-c', 'source scripts/infra/stack.sh && printf %s "$MACHINE_DISK_SIZE"'], {
    cwd: ROOT,
    env: { ...process.env, CURATOR_INFRA_DISK_SIZE: '' },
  }).toString();
  assert.deepEqual([worker.tmpfs ?? []].flat(), [`/data/curator:size=${diskSize}`]);
});

test('the worker Dockerfile exists and uses a pinned base image', () => {
  const build = service('worker').build;
  assert.ok(build, 'worker has no build section');
  const context = typeof build === 'string' ? build : (build.context ?? '.');
  const dockerfile = typeof build === 'string' ? 'Dockerfile' : (build.dockerfile ?? 'Dockerfile');
  const file = path.resolve(ROOT, context, dockerfile);
  assert.ok(existsSync(file), `${file} missing`);
  const text = readFileSync(file, 'utf8');
  const from = /^FROM\s+(\S+)/m.exec(text)?.[1] ?? '';
  assert.match(from, /^node:20[\w.-]*$/, `unexpected base image '${from}'`);
  assert.ok(existsSync(path.join(ROOT, '.dockerignore')), '.dockerignore missing');
  assert.match(readFileSync(path.join(ROOT, '.dockerignore'), 'utf8'), /^node_modules$/m);
});

test('the dynamic config file temporal mounts exists and is valid YAML', () => {
  const temporal = service('temporal');
  const configPath = env(temporal).TEMPORAL_DYNAMIC_CONFIG!;
  // Relative paths are resolved against the server's working directory, /etc/temporal.
  const inContainer = path.posix.resolve('/etc/temporal', configPath);
  const mount = mounts(temporal).find(
    (m) => isBindSource(m.source) && inContainer.startsWith(m.target.replace(/\/$/, '') + '/')
  );
  assert.ok(mount?.source, `no bind mount provides ${inContainer}`);
  const hostDir = path.resolve(ROOT, mount.source);
  assert.ok(existsSync(hostDir) && statSync(hostDir).isDirectory(), `${hostDir} missing`);
  const hostFile = path.join(hostDir, path.posix.relative(mount.target, inContainer));
  assert.ok(existsSync(hostFile), `${hostFile} missing`);
  const config = parse(readFileSync(hostFile, 'utf8')) as Record<string, unknown>;
  assert.ok(config && typeof config === 'object' && !Array.isArray(config), 'dynamic config is not a mapping');
  for (const [key, values] of Object.entries(config)) {
    assert.ok(Array.isArray(values), `dynamic config '${key}' is not a list of { value, constraints }`);
    for (const v of values) assert.ok(v && typeof v === 'object' && 'value' in v, `'${key}' entry has no value`);
  }
});

test('the cluster chaos test runs what compose describes: two Temporal hosts, workers on the store and PostgreSQL', async () => {
  const { CI } = await import('../../bench/cluster-chaos');
  // Its workers get `stack.sh env mN` (compared with compose's worker above) and keep that data plane.
  assert.equal(CI.dataPlane, 'store');
  assert.ok(CI.machines >= 3, 'fewer worker machines than the chaos test of issue #16');
  const hosts = Object.entries(services).filter(([, s]) => s.image?.startsWith('temporalio/server:'));
  assert.equal(hosts.length, Number(infraSetting('TEMPORAL_HOSTS')));
  const worker = env(service('worker'));
  assert.ok(worker.CURATOR_STORAGE?.startsWith('s3://') && worker.CURATOR_DATABASE_URL?.startsWith('postgres://'));
});
