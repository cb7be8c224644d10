/**
 * The reuse stage: off by default; on, a request is named by its body, provider, base URL and mode; with a
 * `reuseAnswer` predicate, answers to the same prompt asked with other params are offered to it, newest first, and a
 * reused answer is recorded with where it came from.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { defineCurator, type CuratorDefinition } from '../../src/curator';
import { AttemptRecorder } from '../../src/requests/record';
import { formatRun } from '../../src/cli/inspect';
import { AnswerReuse, REUSED_EVENT, REUSED_JOB } from '../../src/requests/reuse';
import { SqliteMetadataStore } from '../../src/storage/metadata/metadata-store';
import { AnswerStore } from '../../src/storage/answer-store';
import { LocalObjectStore } from '../../src/storage/object-store/local-store';
import { ShardLog } from '../../src/storage/response-log';
import type { ProviderRequest } from '../../src/types/requests';
import { tempDir } from '../helpers/temporal';

const base = { name: 'reuse', model: 'gpt-4o-mini', prompt: () => 'hi' };
const request = (params: Record<string, unknown> = { temperature: 0 }, content = 'hi'): ProviderRequest => ({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content }],
  params,
});
const answer = { ok: true, value: 'hello', finish: 'stop', usage: { input: 3, output: 1 } };
const origin = { run: 'run-1', job: 'job-1' };

function reuseOf(dir: string, definition: Partial<CuratorDefinition> = {}, baseURL = 'http://x/v1'): AnswerReuse {
  return new AnswerReuse(new LocalObjectStore(dir), defineCurator({ ...base, ...definition }), baseURL, origin);
}

/** Runs the reuse stage over `requests` into a fresh response log; returns what it settled and the log. */
async function reuseInto(reuse: AnswerReuse, dir: string, requests: ProviderRequest[]) {
  const log = new ShardLog();
  const recorder = await AttemptRecorder.open(join(dir, `log-${Math.random()}.jsonl`), log, origin.job);
  try {
    const settled = await reuse.reuse(new Map(requests.map((r, i) => [i, r])), recorder, (i) => ({ i }));
    return { settled, log };
  } finally {
    await recorder.close();
  }
}

describe('answer reuse', () => {
  test('off by default: nothing is kept', async () => {
    const dir = tempDir('reuse-off');
    const reuse = reuseOf(dir);
    assert.equal(reuse.enabled, false);
    await reuse.remember(request(), answer);
    const on = reuseOf(dir, { backend: { reuseAnswers: true } });
    assert.equal((await reuseInto(on, dir, [request()])).settled.size, 0);
  });

  test('on: an accepted answer is kept with its params and origin; a failure is not; keys name body, provider, base URL and mode', async () => {
    const dir = tempDir('reuse-on');
    const reuse = reuseOf(dir, { backend: { reuseAnswers: true } });
    assert.equal(reuse.enabled, true);
    await reuse.remember(request(), { ...answer, i: 4, job: 'j', attempt: 2, at: '2026-01-01T00:00:00.000Z' });
    const key = (r: ProviderRequest) => reuse.key({ ...r.params, model: r.model, messages: r.messages });
    assert.deepEqual(await new AnswerStore(new LocalObjectStore(dir)).get(key(request())), {
      ...answer,
      params: { temperature: 0 },
      origin: { ...origin, at: '2026-01-01T00:00:00.000Z' },
    });
    await reuse.remember(request({ temperature: 1 }), { ok: false });
    assert.equal(await new AnswerStore(new LocalObjectStore(dir)).get(key(request({ temperature: 1 }))), undefined);
    const body = { model: 'gpt-4o-mini', messages: [] };
    const keys = new Set([
      reuse.key(body),
      reuse.key({ ...body, temperature: 1 }),
      reuseOf(dir, { backend: { reuseAnswers: true } }, 'http://y/v1').key(body),
      reuseOf(dir, { backend: { reuseAnswers: true, batch: true } }).key(body),
      reuseOf(dir, { provider: 'groq', backend: { reuseAnswers: true } }).key(body),
    ]);
    assert.equal(keys.size, 5);
  });

  test("a prompt's key leaves the generation params out, and nothing else", () => {
    const reuse = reuseOf(tempDir('reuse-prompt'), { backend: { reuseAnswers: true } });
    const key = reuse.promptKey(request({ max_tokens: 10 }));
    assert.equal(reuse.promptKey(request({ max_tokens: 99, temperature: 1 })), key);
    assert.notEqual(reuse.promptKey(request({ max_tokens: 10 }, 'hello')), key);
    assert.notEqual(reuse.promptKey({ ...request({ max_tokens: 10 }), model: 'gpt-4o' }), key);
  });

  test('without a predicate, only the identical request takes an answer', async () => {
    const dir = tempDir('reuse-exact');
    const reuse = reuseOf(dir, { backend: { reuseAnswers: true } });
    await reuse.remember(request({ max_tokens: 10 }), answer);
    const { settled, log } = await reuseInto(reuse, dir, [request({ max_tokens: 10 }), request({ max_tokens: 20 })]);
    assert.deepEqual([...settled], [0]);
    const record = log.state(0).success!;
    assert.equal(record.job, REUSED_JOB);
    assert.deepEqual(record.reused, {
      key: record.reused!.key,
      identical: true,
      params: { max_tokens: 10 },
      run: 'run-1',
      job: 'job-1',
    });
  });

  test('with a predicate: answers of the same prompt with other params, the accepted ones taken, the rest sent', async () => {
    const dir = tempDir('reuse-predicate');
    const first = reuseOf(dir, { backend: { reuseAnswers: true } });
    // Rows 0 and 2 finished; row 1 was cut short at max_tokens 10.
    await first.remember(request({ max_tokens: 10 }, 'a'), answer);
    await first.remember(request({ max_tokens: 10 }, 'b'), { ...answer, value: 'hel', finish: 'length' });
    await first.remember(request({ max_tokens: 10 }, 'c'), answer);
    const seen: unknown[] = [];
    const second = reuseOf(dir, {
      generationParams: { max_tokens: 100 },
      reuseAnswer: (a, context) => {
        seen.push(context);
        return a.choices[0]!.finishReason === 'stop';
      },
    });
    assert.equal(second.enabled, true, 'a predicate turns reuse on');
    const requests = ['a', 'b', 'c', 'd'].map((c) => request({ max_tokens: 100 }, c));
    const { settled, log } = await reuseInto(second, dir, requests);
    assert.deepEqual([...settled], [0, 2]);
    assert.equal(log.state(1).success, undefined, 'the truncated answer is not taken');
    const reused = log.state(0).success!;
    assert.equal(reused.value, 'hello');
    assert.equal(reused.reused?.identical, false);
    assert.deepEqual(reused.reused?.params, { max_tokens: 10 });
    assert.deepEqual(seen[0], {
      row: { i: 0 },
      params: { max_tokens: 10 },
      currentParams: { max_tokens: 100 },
      identical: false,
    });
    assert.equal(seen.length, 3, 'asked once per stored answer of a prompt; never for a prompt without one');
  });

  test('with a predicate: the newest answer it accepts wins', async () => {
    const dir = tempDir('reuse-newest');
    const reuse = reuseOf(dir, { backend: { reuseAnswers: true } });
    await reuse.remember(request({ seed: 1 }), { ...answer, value: 'old', at: '2026-01-01T00:00:00.000Z' });
    await reuse.remember(request({ seed: 2 }), { ...answer, value: 'new', at: '2026-02-01T00:00:00.000Z' });
    const pick = reuseOf(dir, { reuseAnswer: () => true });
    const { log } = await reuseInto(pick, dir, [request({ seed: 3 })]);
    assert.equal(log.state(0).success?.value, 'new');
  });

  test('a predicate that throws fails that row alone, named, and nothing is sent for it', async () => {
    const dir = tempDir('reuse-throws');
    const reuse = reuseOf(dir, { backend: { reuseAnswers: true } });
    await reuse.remember(request({}, 'boom'), answer);
    await reuse.remember(request({}, 'fine'), answer);
    const throwing = reuseOf(dir, {
      reuseAnswer: (_answer, { row }: { row: { i?: number } }) => {
        if (row.i === 0) throw new Error('no field x');
        return true;
      },
    });
    const { settled, log } = await reuseInto(throwing, dir, [request({ t: 1 }, 'boom'), request({ t: 1 }, 'fine')]);
    assert.deepEqual([...settled].sort(), [0, 1]);
    assert.equal(log.state(0).success, undefined);
    assert.deepEqual(log.state(0).errors, [
      { type: 'ReuseError', message: 'row 0: reuseAnswer() threw: no field x', retryable: false },
    ]);
    assert.equal(log.state(1).success?.job, REUSED_JOB);
  });

  test("curator show lists a job's reused answers with their counts", async () => {
    const db = new SqliteMetadataStore(join(tempDir('reuse-show'), 'metadata.db'));
    try {
      const start = { run_hash: 'r1', parse_hash: 'p', curator_name: 'c', dataset_hash: 'd', prompt_func: 'x' };
      const where = { model_name: 'm', provider: 'openai', base_url: 'u', response_format: 'text' };
      await db.startRun({ ...start, ...where, workflow_id: 'w', total_requests: 4 });
      await db.event('r1', REUSED_EVENT, 'w', { answered: 4, cached: 3, reused: 2 });
      const text = await formatRun(db, (await db.getRun('r1'))!);
      assert.match(text, /reused-answers {2}w {2}\{"answered":4,"cached":3,"reused":2\}/);
      assert.match(text, /started {2}w\n/, 'other entries keep their one-line form');
    } finally {
      await db.close();
    }
  });
});
