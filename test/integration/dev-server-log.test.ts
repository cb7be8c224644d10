/**
 * The dev server's own log goes to a file next to its database, not to the user's terminal (where it printed
 * `level=ERROR ... task queue closed` under a Ctrl-C, and where a server outliving the run would write later); a
 * server that fails to start is reported with the file and its last lines.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDevServer } from '../../src/temporal/dev-server';

test('a dev server that cannot start is reported with its log file and what it said there', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'curator-dev-log-'));
  const logPath = join(dir, 'temporal', 'dev-server.log');
  await assert.rejects(
    startDevServer({
      dbFilename: join(dir, 'temporal', 'dev-server.db'),
      port: 17433,
      extraArgs: ['--no-such-flag'],
    }),
    (err: Error) => {
      assert.match(err.message, /temporal dev server exited with code [1-9]/);
      assert.ok(err.message.includes(`log: ${logPath}`), err.message);
      assert.match(err.message, /no-such-flag/);
      return true;
    }
  );
  assert.match(readFileSync(logPath, 'utf8'), /no-such-flag/);
});

test('a running dev server logs into the file next to its database', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'curator-dev-log-'));
  const server = await startDevServer({ dbFilename: join(dir, 'temporal', 'dev-server.db'), port: 17435 });
  try {
    assert.equal(server.owned, true);
    assert.ok(existsSync(join(dir, 'temporal', 'dev-server.log')));
  } finally {
    await server.stop();
  }
});
