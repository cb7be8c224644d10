/**
 * The simulated batch APIs through the official clients: OpenAI Files and Batches (`client.files.*`,
 * `client.batches.*`) and Anthropic Message Batches (`client.messages.batches.*`).
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import OpenAI, { toFile } from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startSimulator, type Simulator } from '../../src/simulator';

let sim: Simulator;
const PROCESSING_MS = 150;

before(async () => {
  sim = await startSimulator({ batches: { processingMs: PROCESSING_MS } });
});
after(async () => {
  await sim.close();
});
beforeEach(() => {
  sim.reset();
  sim.setOptions({ batches: { processingMs: PROCESSING_MS } });
});

const openai = () => new OpenAI({ apiKey: 'sk-test', baseURL: sim.openaiBaseURL, maxRetries: 0 });
const anthropic = () => new Anthropic({ apiKey: 'sk-ant-test', baseURL: sim.anthropicBaseURL, maxRetries: 0 });

function jsonl(lines: unknown[]): string {
  return lines.map((l) => JSON.stringify(l)).join('\n') + '\n';
}

function chatLine(id: string, content: string, extra: Record<string, unknown> = {}) {
  return {
    custom_id: id,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content }] },
    ...extra,
  };
}

async function upload(client: OpenAI, text: string, name = 'batch.jsonl') {
  return client.files.create({ file: await toFile(Buffer.from(text), name), purpose: 'batch' });
}

async function waitOpenAI(client: OpenAI, id: string): Promise<OpenAI.Batch> {
  for (;;) {
    const batch = await client.batches.retrieve(id);
    if (['completed', 'failed', 'expired', 'cancelled'].includes(batch.status)) return batch;
    await delay(30);
  }
}

async function lines(client: OpenAI, fileId: string | null | undefined): Promise<any[]> {
  if (!fileId) return [];
  const text = await (await client.files.content(fileId)).text();
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l));
}

describe('OpenAI Files and Batches', () => {
  test('a file upload returns a FileObject; its content reads back', async () => {
    const client = openai();
    const text = jsonl([chatLine('a', 'hello')]);
    const file = await upload(client, text);
    assert.match(file.id, /^file-/);
    assert.equal(file.object, 'file');
    assert.equal(file.purpose, 'batch');
    assert.equal(file.status, 'processed');
    assert.equal(file.bytes, Buffer.byteLength(text));
    assert.equal(file.filename, 'batch.jsonl');
    assert.equal(typeof file.expires_at, 'number');
    assert.equal(await (await client.files.content(file.id)).text(), text);
    assert.equal((await client.files.retrieve(file.id)).id, file.id);
    assert.deepEqual(await client.files.delete(file.id), { id: file.id, object: 'file', deleted: true });
    await assert.rejects(client.files.retrieve(file.id), (err: any) => err.status === 404);
  });

  test('a batch goes in_progress, then completed with output and error files joined by custom_id', async () => {
    const client = openai();
    const file = await upload(
      client,
      jsonl([chatLine('r-0', 'row zero'), chatLine('r-1', 'row one [[sim:status=500]]'), chatLine('r-2', 'row two')])
    );
    const created = await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      metadata: { key: 'k1' },
    });
    assert.match(created.id, /^batch_/);
    assert.equal(created.object, 'batch');
    assert.equal(created.status, 'validating');
    assert.deepEqual(created.metadata, { key: 'k1' });
    assert.equal(created.output_file_id, null);
    assert.equal(sim.stats.batchesCreated, 1);
    assert.equal((await client.batches.retrieve(created.id)).status, 'in_progress');
    assert.equal(sim.stats.total, 0, 'requests are answered when the batch ends, not before');

    const done = await waitOpenAI(client, created.id);
    assert.equal(done.status, 'completed');
    assert.deepEqual(done.request_counts, { total: 3, completed: 2, failed: 1 });
    assert.equal(typeof done.completed_at, 'number');
    assert.ok(done.usage && done.usage.input_tokens > 0 && done.usage.output_tokens > 0);
    const output = await lines(client, done.output_file_id);
    assert.deepEqual(output.map((l) => l.custom_id).sort(), ['r-0', 'r-2']);
    for (const line of output) {
      assert.match(line.id, /^batch_req_/);
      assert.equal(line.error, null);
      assert.equal(line.response.status_code, 200);
      assert.match(line.response.request_id, /^req_/);
      assert.equal(line.response.body.object, 'chat.completion');
      assert.ok(line.response.body.choices[0].message.content.length > 0);
    }
    const errors = await lines(client, done.error_file_id);
    assert.equal(errors.length, 1);
    assert.equal(errors[0].custom_id, 'r-1');
    assert.equal(errors[0].response.status_code, 500);
    assert.equal(errors[0].response.body.error.type, 'server_error');
    // Each request counts as a completion request, with its prompt, as synchronous ones do.
    assert.equal(sim.stats.total, 3);
    assert.equal(sim.callsFor('row one'), 1);
    assert.equal(sim.stats.requests[0]?.batchId, created.id);
  });

  test('answers in a batch equal the synchronous answers for the same request', async () => {
    const client = openai();
    const sync = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'same prompt' }],
    });
    const file = await upload(client, jsonl([chatLine('x', 'same prompt')]));
    const batch = await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const [line] = await lines(client, (await waitOpenAI(client, batch.id)).output_file_id);
    assert.equal(line.response.body.choices[0].message.content, sync.choices[0]!.message.content);
    assert.deepEqual(line.response.body.usage, sync.usage);
  });

  test('invalid input lines fail the batch with errors per line', async () => {
    const client = openai();
    const file = await upload(
      client,
      jsonl([chatLine('a', 'x'), chatLine('a', 'y'), chatLine('b', 'z', { url: '/v1/embeddings' })])
    );
    const batch = await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    assert.equal(batch.status, 'failed');
    assert.deepEqual(
      batch.errors?.data?.map((e) => [e.code, e.line]),
      [
        ['duplicate_custom_id', 2],
        ['mismatched_endpoint', 3],
      ]
    );
  });

  test('limits: more requests or bytes than allowed fail the batch; bad window and unknown ids are errors', async () => {
    const client = openai();
    sim.setOptions({ batches: { processingMs: PROCESSING_MS, openaiMaxRequests: 2 } });
    const file = await upload(client, jsonl([chatLine('a', '1'), chatLine('b', '2'), chatLine('c', '3')]));
    const params = { input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' } as const;
    const tooMany = await client.batches.create(params);
    assert.equal(tooMany.status, 'failed');
    assert.equal(tooMany.errors?.data?.[0]?.code, 'too_many_requests');
    sim.setOptions({ batches: { processingMs: PROCESSING_MS, openaiMaxBytes: 100 } });
    assert.equal((await client.batches.create(params)).errors?.data?.[0]?.code, 'too_large');
    await assert.rejects(
      client.batches.create({ ...params, completion_window: '1h' as '24h' }),
      (err: any) => err.status === 400 && err.param === 'completion_window'
    );
    await assert.rejects(client.batches.retrieve('batch_nope'), (err: any) => err.status === 404);
    await assert.rejects(
      client.files.create({ file: await toFile(Buffer.from('x'), 'batch.txt'), purpose: 'batch' }),
      (err: any) => err.status === 400
    );
  });

  test('cancel: cancelling, then cancelled with every request in the error file; a finished batch cannot be', async () => {
    const client = openai();
    sim.setOptions({ batches: { processingMs: 60_000 } });
    const file = await upload(client, jsonl([chatLine('a', '1'), chatLine('b', '2')]));
    const batch = await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const cancelling = await client.batches.cancel(batch.id);
    assert.equal(cancelling.status, 'cancelling');
    assert.equal(typeof cancelling.cancelling_at, 'number');
    const cancelled = await client.batches.retrieve(batch.id);
    assert.equal(cancelled.status, 'cancelled');
    assert.equal(cancelled.output_file_id, null);
    const errors = await lines(client, cancelled.error_file_id);
    assert.deepEqual(
      errors.map((e) => e.error.code),
      ['batch_cancelled', 'batch_cancelled']
    );
    assert.equal(sim.stats.total, 0);
    await assert.rejects(client.batches.cancel(batch.id), (err: any) => err.status === 400);
  });

  test('an expired batch, and one request expiring by directive, end in the error file as batch_expired', async () => {
    const client = openai();
    sim.setOptions({ batches: { processingMs: 10 } });
    const file = await upload(client, jsonl([chatLine('a', 'fine'), chatLine('b', 'late [[sim:expire]]')]));
    const params = { input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' } as const;
    const one = await waitOpenAI(client, (await client.batches.create(params)).id);
    assert.equal(one.status, 'completed');
    assert.deepEqual(one.request_counts, { total: 2, completed: 1, failed: 1 });
    assert.equal((await lines(client, one.error_file_id))[0].error.code, 'batch_expired');
    sim.setOptions({ batches: { processingMs: 1000, expireAfterMs: 10 } });
    const all = await waitOpenAI(client, (await client.batches.create(params)).id);
    assert.equal(all.status, 'expired');
    assert.equal(typeof all.expired_at, 'number');
    assert.equal((await lines(client, all.error_file_id)).length, 2);
  });

  test('list pages newest first and finds a batch by metadata; a wrong key is a 401', async () => {
    const client = openai();
    const file = await upload(client, jsonl([chatLine('a', '1')]));
    const ids: string[] = [];
    for (let k = 0; k < 3; k++) {
      const b = await client.batches.create({
        input_file_id: file.id,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
        metadata: { n: String(k) },
      });
      ids.push(b.id);
    }
    const seen: string[] = [];
    for await (const b of client.batches.list({ limit: 2 })) seen.push(b.id);
    assert.deepEqual(seen.slice(0, 3), [...ids].reverse());
    sim.setOptions({ validApiKeys: ['sk-good'] });
    await assert.rejects(openai().batches.list(), (err: any) => err.status === 401);
    sim.setOptions({ validApiKeys: undefined });
    assert.ok(sim.stats.batchCalls >= 5);
    const control = (await (await fetch(`${sim.url}/_sim/batch-stats`)).json()) as Record<string, number>;
    assert.deepEqual(control, { batchCalls: sim.stats.batchCalls, batchesCreated: 3 });
  });
});

describe('Anthropic Message Batches', () => {
  const params = (content: string) => ({
    model: 'claude-3-5-haiku-latest',
    max_tokens: 100,
    messages: [{ role: 'user' as const, content }],
  });

  async function wait(client: Anthropic, id: string) {
    for (;;) {
      const batch = await client.messages.batches.retrieve(id);
      if (batch.processing_status === 'ended') return batch;
      await delay(30);
    }
  }

  test('create, poll until ended, stream results with succeeded and errored lines', async () => {
    const client = anthropic();
    const created = await client.messages.batches.create({
      requests: [
        { custom_id: 'r-0', params: params('row zero') },
        { custom_id: 'r-1', params: params('row one [[sim:status=529]]') },
        { custom_id: 'r-2', params: params('row two [[sim:expire]]') },
      ],
    });
    assert.match(created.id, /^msgbatch_/);
    assert.equal(created.type, 'message_batch');
    assert.equal(created.processing_status, 'in_progress');
    assert.deepEqual(created.request_counts, { processing: 3, succeeded: 0, errored: 0, canceled: 0, expired: 0 });
    assert.equal(created.results_url, null);
    assert.match(created.created_at, /^\d{4}-\d\d-\d\dT/);
    assert.equal(sim.stats.batchesCreated, 1);
    await assert.rejects(client.messages.batches.results(created.id));

    const ended = await wait(client, created.id);
    assert.deepEqual(ended.request_counts, { processing: 0, succeeded: 1, errored: 1, canceled: 0, expired: 1 });
    assert.ok(ended.ended_at);
    assert.equal(ended.results_url, `${sim.url}/v1/messages/batches/${created.id}/results`);
    const results = new Map<string, Anthropic.Messages.MessageBatchIndividualResponse>();
    for await (const line of await client.messages.batches.results(created.id)) results.set(line.custom_id, line);
    const ok = results.get('r-0')!.result;
    assert.equal(ok.type, 'succeeded');
    if (ok.type === 'succeeded') {
      assert.equal(ok.message.type, 'message');
      assert.equal(ok.message.content[0]?.type, 'text');
      assert.equal(ok.message.usage.service_tier, 'batch');
      assert.ok(ok.message.usage.output_tokens > 0);
    }
    const errored = results.get('r-1')!.result;
    assert.equal(errored.type, 'errored');
    if (errored.type === 'errored') {
      assert.equal(errored.error.type, 'error');
      assert.equal(errored.error.error.type, 'overloaded_error');
    }
    assert.equal(results.get('r-2')!.result.type, 'expired');
  });

  test('validation: duplicate or malformed custom_id, streaming, max_tokens 0 and too many requests are 400s', async () => {
    const client = anthropic();
    const bad = async (requests: any[]) =>
      assert.rejects(client.messages.batches.create({ requests }), (err: any) => err.status === 400);
    await bad([
      { custom_id: 'a', params: params('x') },
      { custom_id: 'a', params: params('y') },
    ]);
    await bad([{ custom_id: 'has space', params: params('x') }]);
    await bad([{ custom_id: 'a', params: { ...params('x'), stream: true } }]);
    await bad([{ custom_id: 'a', params: { ...params('x'), max_tokens: 0 } }]);
    sim.setOptions({ batches: { processingMs: PROCESSING_MS, anthropicMaxRequests: 1 } });
    await bad([
      { custom_id: 'a', params: params('x') },
      { custom_id: 'b', params: params('y') },
    ]);
    assert.equal(sim.stats.batchesCreated, 0);
  });

  test('a body over the byte limit is a 413 request_too_large', async () => {
    sim.setOptions({ batches: { processingMs: PROCESSING_MS, anthropicMaxBytes: 1000 } });
    await assert.rejects(
      anthropic().messages.batches.create({ requests: [{ custom_id: 'a', params: params('x'.repeat(2000)) }] }),
      (err: any) => err.status === 413 && err.error?.error?.type === 'request_too_large'
    );
  });

  test('cancel: canceling, then ended with every request canceled; list and delete', async () => {
    const client = anthropic();
    sim.setOptions({ batches: { processingMs: 60_000 } });
    const batch = await client.messages.batches.create({
      requests: [
        { custom_id: 'a', params: params('1') },
        { custom_id: 'b', params: params('2') },
      ],
    });
    await assert.rejects(client.messages.batches.delete(batch.id), (err: any) => err.status === 400);
    const canceling = await client.messages.batches.cancel(batch.id);
    assert.equal(canceling.processing_status, 'canceling');
    assert.ok(canceling.cancel_initiated_at);
    const ended = await client.messages.batches.retrieve(batch.id);
    assert.equal(ended.processing_status, 'ended');
    assert.equal(ended.request_counts.canceled, 2);
    const types: string[] = [];
    for await (const line of await client.messages.batches.results(batch.id)) types.push(line.result.type);
    assert.deepEqual(types, ['canceled', 'canceled']);
    const listed: string[] = [];
    for await (const b of client.messages.batches.list({ limit: 10 })) listed.push(b.id);
    assert.ok(listed.includes(batch.id));
    assert.deepEqual(await client.messages.batches.delete(batch.id), { id: batch.id, type: 'message_batch_deleted' });
    await assert.rejects(client.messages.batches.retrieve(batch.id), (err: any) => err.status === 404);
    assert.equal(sim.stats.total, 0);
  });
});
