/** What names a job and its worker: an edited curator is another job, another project another task queue. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jobWorkflowId } from '../../src/client';
import { defineCurator, type Curator } from '../../src/curator';
import { embeddedTaskQueue } from '../../src/embedded';
import { curatorFingerprint } from '../../src/storage/fingerprint';
import { defaultRequestTimeoutMs } from '../../src/defaults';
import { checkAnswerBody, classifyError } from '../../src/providers/outcome';

const base = { name: 'c', model: 'gpt-4o-mini', prompt: (row: { t: string }) => `A ${row.t}` };

test('every part of the definition and the workers base URL change the job id; the dataset does too', () => {
  const env = { OPENAI_BASE_URL: 'http://a/v1' };
  const id = (c: Curator<any, any, any>, e = env, dataset = 'd1') =>
    jobWorkflowId('c', dataset, {}, curatorFingerprint(c as Curator, e));
  const ids = [
    id(defineCurator(base)),
    id(defineCurator({ ...base, prompt: (row: { t: string }) => `B ${row.t}` })),
    id(defineCurator({ ...base, systemPrompt: 'be brief' })),
    id(defineCurator({ ...base, model: 'gpt-4o' })),
    id(defineCurator({ ...base, generationParams: { temperature: 0 } })),
    id(defineCurator({ ...base, parse: (row: { t: string }, r: string) => ({ t: row.t, r }) })),
    id(defineCurator({ ...base, responseFormat: { type: 'object', properties: { a: { type: 'string' } } } })),
    id(defineCurator(base), { OPENAI_BASE_URL: 'http://b/v1' }),
    id(defineCurator(base), env, 'd2'),
  ];
  assert.equal(new Set(ids).size, ids.length);
  assert.equal(id(defineCurator(base)), ids[0]);
});

test('the embedded task queue differs per cache directory and per set of curators, not per order', () => {
  assert.notEqual(embeddedTaskQueue('/a', ['x']), embeddedTaskQueue('/b', ['x']));
  assert.notEqual(embeddedTaskQueue('/a', ['x']), embeddedTaskQueue('/a', ['y']));
  assert.equal(embeddedTaskQueue('/a', ['x', 'y']), embeddedTaskQueue('/a', ['y', 'x']));
});

test('the default request timeout fits the model', () => {
  assert.equal(defaultRequestTimeoutMs('gpt-4o-mini'), 180_000);
  assert.equal(defaultRequestTimeoutMs('claude-3-5-haiku-latest'), 180_000);
  for (const model of ['o3-mini', 'o1', 'gpt-5', 'deepseek-r1', 'claude-thinking', 'qwq-reasoning']) {
    assert.equal(defaultRequestTimeoutMs(model), 600_000, model);
  }
});

test('an empty or non-object 200 body is a retryable malformed response', () => {
  for (const body of ['', 'null', null, [], 42]) {
    let error;
    try {
      checkAnswerBody(body);
    } catch (err) {
      error = classifyError(err);
    }
    assert.equal(error?.type, 'MalformedResponse');
    assert.equal(error?.retryable, true);
  }
  assert.deepEqual(checkAnswerBody({ choices: [] }), { choices: [] });
});

test('two projects (cache roots) running the same curator over the same data are two jobs', () => {
  const definition = curatorFingerprint(defineCurator(base) as Curator, {});
  const a = jobWorkflowId('c', 'd1', {}, definition, '/projects/a/.cache');
  assert.notEqual(a, jobWorkflowId('c', 'd1', {}, definition, '/projects/b/.cache'));
  assert.equal(a, jobWorkflowId('c', 'd1', {}, definition, '/projects/a/.cache'), 'one project: one job');
  assert.notEqual(a, jobWorkflowId('c', 'd1', {}, definition), 'a job started without a cache root keeps its id');
});
