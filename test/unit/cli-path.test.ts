import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { findRepoRoot, findTemporalCli } from '../../src/temporal/cli-path';

const EXE = process.platform === 'win32' ? '.exe' : '';

function withEnv(vars: Record<string, string | undefined>, fn: () => void): void {
  const saved: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(vars)) {
    saved[key] = process.env[key];
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  try {
    fn();
  } finally {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}

function makeFile(file: string, mode: number): string {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, '#!/bin/sh\necho temporal version 0.0.0\n');
  chmodSync(file, mode);
  return file;
}

function withTempDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(path.join(tmpdir(), 'cli-path-test-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('TEMPORAL_CLI_PATH wins when it is an executable file', () => {
  withTempDir((dir) => {
    const custom = makeFile(path.join(dir, 'custom', 'my-temporal'), 0o755);
    const onPath = makeFile(path.join(dir, 'path-bin', `temporal${EXE}`), 0o755);
    const root = path.join(dir, 'repo');
    makeFile(path.join(root, '.tools', 'temporal', 'bin', `temporal${EXE}`), 0o755);
    withEnv({ TEMPORAL_CLI_PATH: custom, PATH: path.dirname(onPath) }, () => {
      assert.equal(findTemporalCli(root), custom);
    });
  });
});

test(
  'TEMPORAL_CLI_PATH is ignored when it is missing, a directory or not executable',
  { skip: process.platform === 'win32' },
  () => {
    withTempDir((dir) => {
      const notExecutable = makeFile(path.join(dir, 'plain', 'temporal'), 0o644);
      const onPath = makeFile(path.join(dir, 'path-bin', 'temporal'), 0o755);
      const emptyRoot = path.join(dir, 'empty-repo');
      mkdirSync(emptyRoot);
      for (const bad of [notExecutable, path.join(dir, 'nope', 'temporal'), path.join(dir, 'plain')]) {
        withEnv({ TEMPORAL_CLI_PATH: bad, PATH: path.dirname(onPath) }, () => {
          assert.equal(findTemporalCli(emptyRoot), onPath, `TEMPORAL_CLI_PATH=${bad}`);
        });
      }
    });
  }
);

test('the repo-local .tools binary comes before PATH', () => {
  withTempDir((dir) => {
    const root = path.join(dir, 'repo');
    const local = makeFile(path.join(root, '.tools', 'temporal', 'bin', `temporal${EXE}`), 0o755);
    const onPath = makeFile(path.join(dir, 'path-bin', `temporal${EXE}`), 0o755);
    withEnv({ TEMPORAL_CLI_PATH: undefined, PATH: path.dirname(onPath) }, () => {
      assert.equal(findTemporalCli(root), local);
    });
  });
});

test('PATH is scanned in order, skipping directories without an executable temporal', () => {
  withTempDir((dir) => {
    const emptyRoot = path.join(dir, 'empty-repo');
    mkdirSync(emptyRoot);
    const first = path.join(dir, 'first'); // no temporal
    mkdirSync(first);
    const dirNamedTemporal = path.join(dir, 'second');
    mkdirSync(path.join(dirNamedTemporal, `temporal${EXE}`), { recursive: true }); // a directory, not a file
    const third = path.join(dir, 'third');
    if (process.platform !== 'win32') makeFile(path.join(third, 'temporal'), 0o644); // not executable
    const found = makeFile(path.join(dir, 'fourth', `temporal${EXE}`), 0o755);
    const later = makeFile(path.join(dir, 'fifth', `temporal${EXE}`), 0o755);
    const PATH = ['', first, dirNamedTemporal, third, path.dirname(found), path.dirname(later)].join(path.delimiter);
    withEnv({ TEMPORAL_CLI_PATH: undefined, PATH }, () => {
      assert.equal(findTemporalCli(emptyRoot), found);
    });
  });
});

test('returns undefined when nothing is found', () => {
  withTempDir((dir) => {
    const emptyRoot = path.join(dir, 'empty-repo');
    const emptyBin = path.join(dir, 'bin');
    mkdirSync(emptyRoot);
    mkdirSync(emptyBin);
    withEnv({ TEMPORAL_CLI_PATH: undefined, PATH: emptyBin }, () => {
      assert.equal(findTemporalCli(emptyRoot), undefined);
    });
    withEnv({ TEMPORAL_CLI_PATH: undefined, PATH: undefined }, () => {
      assert.equal(findTemporalCli(emptyRoot), undefined);
    });
  });
});

test('findRepoRoot walks up to the temporal-curator package.json', () => {
  const root = findRepoRoot();
  assert.ok(root, 'repo root not found from src/temporal');
  assert.equal(JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).name, 'temporal-curator');
  assert.equal(findRepoRoot(path.join(root, 'src', 'temporal')), root);
  assert.ok(existsSync(path.join(root, 'src', 'temporal', 'cli-path.ts')));
  withTempDir((dir) => {
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'something-else' }));
    mkdirSync(path.join(dir, 'a', 'b'), { recursive: true });
    assert.equal(findRepoRoot(path.join(dir, 'a', 'b')), undefined);
  });
});

test('without a root argument it looks in this repo', () => {
  const root = findRepoRoot()!;
  withTempDir((dir) => {
    const emptyBin = path.join(dir, 'bin');
    mkdirSync(emptyBin);
    withEnv({ TEMPORAL_CLI_PATH: undefined, PATH: emptyBin }, () => {
      const local = path.join(root, '.tools', 'temporal', 'bin', `temporal${EXE}`);
      assert.equal(findTemporalCli(), existsSync(local) ? local : undefined);
    });
  });
});
