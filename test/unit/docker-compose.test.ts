/**
 * Static checks of the production-shaped docker-compose stack (no Docker needed): services, pinned images,
 * published ports, dependencies, secrets passed through only, volumes, and the files the stack refers to.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

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
};
type Compose = { services?: Record<string, Service>; volumes?: Record<string, unknown> };

const composeText = readFileSync(COMPOSE_FILE, 'utf8');
const compose = parse(composeText) as Compose;
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

test('the four services exist', () => {
  for (const name of ['postgresql', 'temporal', 'temporal-ui', 'worker']) service(name);
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
  assert.match(service('postgresql').image ?? '', /^postgres:16(\.|$)/);
  assert.match(service('temporal').image ?? '', /^temporalio\/(auto-setup|server):\d/);
  assert.match(service('temporal-ui').image ?? '', /^temporalio\/ui:\d/);
});

test('Temporal gRPC (7233) and the Web UI (8080) are published', () => {
  assert.ok(publishedPorts(service('temporal')).includes(7233), 'temporal does not publish 7233');
  assert.ok(publishedPorts(service('temporal-ui')).includes(8080), 'temporal-ui does not publish 8080');
  assert.equal(env(service('temporal-ui')).TEMPORAL_ADDRESS, 'temporal:7233');
});

test('temporal waits for a healthy postgresql and is configured for it', () => {
  const temporal = service('temporal');
  assert.ok(dependsOn(temporal).includes('postgresql'), 'temporal does not depend on postgresql');
  if (!Array.isArray(temporal.depends_on)) {
    assert.equal(temporal.depends_on?.postgresql?.condition, 'service_healthy');
  }
  assert.ok(service('postgresql').healthcheck?.test, 'postgresql has no healthcheck');
  const e = env(temporal);
  assert.match(e.DB ?? '', /^postgres12/);
  assert.equal(e.POSTGRES_SEEDS, 'postgresql');
  assert.ok(e.POSTGRES_USER, 'POSTGRES_USER not set');
  assert.ok(e.POSTGRES_PWD, 'POSTGRES_PWD not set');
  assert.ok(e.DYNAMIC_CONFIG_FILE_PATH, 'DYNAMIC_CONFIG_FILE_PATH not set');
  assert.ok(dependsOn(service('worker')).includes('temporal'), 'worker does not depend on temporal');
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

test('named volumes are declared and hold the database and the curator cache', () => {
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
  const cache = mounts(service('worker')).find((m) => m.target === '/data/curator');
  assert.ok(cache?.source && declared.includes(cache.source), 'worker cache is not on a named volume');
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
  const configPath = env(temporal).DYNAMIC_CONFIG_FILE_PATH!;
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
