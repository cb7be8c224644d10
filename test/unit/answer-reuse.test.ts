/** The reuse stage: off by default; on, a request is named by its body, provider, base URL and mode. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { defineCurator } from '../../src/curator';
import { AnswerReuse } from '../../src/requests/reuse';
import { AnswerStore } from '../../src/storage/answer-store';
import { tempDir } from '../helpers/temporal';

const base = { name: 'reuse', model: 'gpt-4o-mini', prompt: () => 'hi' };
const body = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], temperature: 0 };
const answer = { ok: true, value: 'hello', finish: 'stop', usage: { input: 3, output: 1 } };

describe('answer reuse', () => {
  test('off by default: nothing is kept', async () => {
    const dir = tempDir('reuse-off');
    const reuse = new AnswerReuse(dir, defineCurator(base), 'http://x/v1');
    assert.equal(reuse.enabled, false);
    await reuse.remember(body, answer);
    const on = new AnswerReuse(dir, defineCurator({ ...base, backend: { reuseAnswers: true } }), 'http://x/v1');
    assert.equal(await new AnswerStore(dir).get(on.key(body)), undefined);
  });

  test('on: an accepted answer is kept under a key of body, provider, base URL and mode; a failure is not', async () => {
    const dir = tempDir('reuse-on');
    const curator = defineCurator({ ...base, backend: { reuseAnswers: true } });
    const reuse = new AnswerReuse(dir, curator, 'http://x/v1');
    await reuse.remember(body, { ...answer, i: 4, job: 'j', attempt: 2, at: 'now' });
    assert.deepEqual(await new AnswerStore(dir).get(reuse.key(body)), answer);
    await reuse.remember({ ...body, temperature: 1 }, { ok: false });
    assert.equal(await new AnswerStore(dir).get(reuse.key({ ...body, temperature: 1 })), undefined);
    const keys = new Set([
      reuse.key(body),
      reuse.key({ ...body, temperature: 1 }),
      new AnswerReuse(dir, curator, 'http://y/v1').key(body),
      new AnswerReuse(dir, defineCurator({ ...base, backend: { reuseAnswers: true, batch: true } }), 'http://x/v1').key(
        body
      ),
      new AnswerReuse(
        dir,
        defineCurator({ ...base, provider: 'groq', backend: { reuseAnswers: true } }),
        'http://x/v1'
      ).key(body),
    ]);
    assert.equal(keys.size, 5);
  });
});
