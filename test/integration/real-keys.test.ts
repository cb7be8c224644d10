/**
 * Issue #13, case 1: a real key always means real calls. `curator run` with OPENAI_API_KEY and OPENAI_BASE_URL set
 * calls that server (not the simulator) even though the module also exports an Anthropic curator; a curator whose
 * key is missing while another provider's is set is refused at once, naming the variable; with no key at all the
 * simulator answers and the screen says so plainly.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { cliEnv, runCli } from '../helpers/cli-process';
import { startFaultServer, type FaultServer } from '../helpers/fault-server';
import { tempDir } from '../helpers/temporal';

describe('real keys mean real calls', () => {
  let server: FaultServer;
  let input: string;
  let out: string;

  before(async () => {
    server = await startFaultServer();
    out = tempDir('real-keys-out');
    input = join(out, 'topics.jsonl');
    writeFileSync(
      input,
      ['a', 'b', 'c', 'd', 'e'].map((t) => JSON.stringify({ topic: `real ${t}` })).join('\n') + '\n'
    );
  });

  after(() => server.close());

  test('a key and base URL are used as set: every row answered by that server, once', async () => {
    const env = cliEnv(tempDir('real-keys'), { OPENAI_API_KEY: 'sk-user-real', OPENAI_BASE_URL: server.baseURL });
    const arrow = join(out, 'poems.arrow');
    const run = await runCli(['run', 'examples/curators.ts', '-c', 'poems', '-i', input, '-o', arrow], env);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, new RegExp(`poems: real openai calls to ${server.baseURL.replace(/[./]/g, '\\$&')}`));
    assert.doesNotMatch(run.stderr, /simulat/i);
    assert.deepEqual([...server.keys], ['sk-user-real']);
    assert.equal(server.total(), 5);
    const poems = tableFromIPC(readFileSync(arrow))
      .toArray()
      .map((r) => (r as { poem: string }).poem);
    assert.equal(poems.length, 5);
    for (const poem of poems) assert.match(poem, /^fault-server: Write a short poem about real [a-e]\.$/);
  });

  test("a curator whose provider's key is missing while another's is set fails at once, naming the variable", async () => {
    const before = server.total();
    const env = cliEnv(tempDir('real-keys-missing'), {
      OPENAI_API_KEY: 'sk-user-real',
      OPENAI_BASE_URL: server.baseURL,
    });
    const run = await runCli(['run', 'examples/curators.ts', '-c', 'haiku', '-i', input], env);
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /curator 'haiku' uses anthropic but ANTHROPIC_API_KEY is not set/);
    assert.match(run.stderr, /--simulator/);
    assert.doesNotMatch(run.stderr, /Job:/);
    assert.equal(server.total(), before);
  });

  test('no key at all: the simulator answers, and the screen says the answers are fake', async () => {
    const run = await runCli(['run', 'examples/curators.ts', '-c', 'haiku', '-i', input], cliEnv(tempDir('no-keys')));
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /SIMULATED answers \(fake data\).*because no ANTHROPIC_API_KEY is set/);
  });
});
