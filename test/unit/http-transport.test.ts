/**
 * The provider calls' own HTTP path (`src/providers/http-transport.ts`) must look to the SDKs exactly like the global
 * `fetch`: same answers, headers, error classes and classified outcomes, over real sockets.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import zlib from 'node:zlib';
import OpenAI, { toFile } from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { bufferedFetch, gatedFetch, providerFetch, wireOptions } from '../../src/providers/http-transport';
import type { WireGate } from '../../src/limits/wire-gate';
import { classifyError } from '../../src/providers/outcome';
import { ProviderPool } from '../../src/providers';
import { startSimulator, type Simulator } from '../../src/simulator';

let sim: Simulator;
let raw: http.Server;
let rawURL: string;
/** What the raw server saw of the last request, and every request's method and path. */
let lastSeen: { headers: http.IncomingHttpHeaders; body: string } | undefined;
let hits: string[] = [];

const COMPLETION = JSON.stringify({
  id: 'chatcmpl-raw',
  object: 'chat.completion',
  created: 1,
  model: 'gpt-4o-mini',
  choices: [{ index: 0, message: { role: 'assistant', content: 'compressed hello' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
});

/** Routes of a hand-written server for what the simulator does not do: compression, redirects, cut bodies, stalls. */
function rawHandler(req: http.IncomingMessage, res: http.ServerResponse) {
  let body = '';
  req.on('data', (chunk) => (body += chunk));
  req.on('end', () => {
    lastSeen = { headers: req.headers, body };
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    hits.push(`${req.method} ${path}`);
    const json = { 'content-type': 'application/json' };
    if (path.startsWith('/gzip/'))
      res.writeHead(200, { ...json, 'content-encoding': 'gzip' }).end(zlib.gzipSync(COMPLETION));
    else if (path.startsWith('/deflate/'))
      res.writeHead(200, { ...json, 'content-encoding': 'deflate' }).end(zlib.deflateSync(COMPLETION));
    else if (path.startsWith('/br/'))
      res.writeHead(200, { ...json, 'content-encoding': 'br' }).end(zlib.brotliCompressSync(COMPLETION));
    else if (path.startsWith('/redirect/'))
      res.writeHead(307, { location: path.replace('/redirect/', '/gzip/') }).end();
    else if (path.startsWith('/see-other/')) res.writeHead(303, { location: '/plain/after-303' }).end();
    else if (path.startsWith('/two-codings/')) {
      // gzip applied first, then br: `Content-Encoding` lists them in the order applied.
      const twice = zlib.brotliCompressSync(zlib.gzipSync(COMPLETION));
      res.writeHead(200, { ...json, 'content-encoding': 'gzip, br' }).end(twice);
    } else if (path.startsWith('/bom/')) res.writeHead(200, json).end('\uFEFF' + COMPLETION);
    else if (path.startsWith('/empty/')) res.writeHead(200).end();
    else if (path.startsWith('/no-content/')) res.writeHead(204).end();
    else if (path.startsWith('/cut/')) {
      res.writeHead(200, { ...json, 'content-length': String(COMPLETION.length) });
      res.write(COMPLETION.slice(0, 20), () => res.destroy());
    } else if (path.startsWith('/stall/')) res.writeHead(200, json).write('{');
    else res.writeHead(200, json).end(COMPLETION);
  });
}

before(async () => {
  sim = await startSimulator();
  raw = http.createServer(rawHandler);
  await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
  rawURL = `http://127.0.0.1:${(raw.address() as AddressInfo).port}`;
});

after(async () => {
  raw.closeAllConnections();
  await new Promise((resolve) => raw.close(resolve));
  await sim.close();
});

const openai = (fetch: typeof globalThis.fetch | undefined, baseURL = sim.openaiBaseURL, timeout = 10_000) =>
  new OpenAI({ apiKey: 'sk-test', baseURL, maxRetries: 0, timeout, fetch });
const anthropic = (fetch: typeof globalThis.fetch | undefined) =>
  new Anthropic({ apiKey: 'sk-ant-test', baseURL: sim.anthropicBaseURL, maxRetries: 0, timeout: 10_000, fetch });
const ask = (content: string) => ({ model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content }] });

/** The outcome of a call as our engine sees it: the classified error, or the answer. */
async function outcome(call: () => Promise<unknown>) {
  try {
    return { ok: await call() };
  } catch (err) {
    return { error: classifyError(err), errorClass: (err as Error).constructor.name };
  }
}

describe('same as the global fetch, against the simulator', () => {
  test('OpenAI: the answer, usage and rate-limit headers', async () => {
    const [ours, theirs] = await Promise.all(
      [bufferedFetch, undefined].map((fetch) =>
        openai(fetch).chat.completions.create(ask('hello parity')).withResponse()
      )
    );
    assert.deepEqual(ours!.data.choices, theirs!.data.choices);
    assert.deepEqual(ours!.data.usage, theirs!.data.usage);
    assert.match(ours!.request_id ?? '', /^req_/);
    for (const name of ['x-ratelimit-limit-requests', 'x-ratelimit-remaining-tokens', 'content-type']) {
      assert.ok(ours!.response.headers.get(name), `${name} is there`);
      assert.equal(typeof ours!.response.headers.get(name), typeof theirs!.response.headers.get(name));
    }
  });

  test("a request's wire gate rides through the SDKs' fetch options and decides when it is written", async () => {
    let gated = 0;
    const gate = {
      send: (write: () => Promise<Response>) => {
        gated++;
        return write();
      },
    } as unknown as WireGate;
    const answer = await openai(bufferedFetch).chat.completions.create(ask('gated'), {
      fetchOptions: wireOptions(gate),
    });
    assert.ok(answer.choices[0]?.message.content);
    assert.equal(gated, 1);
    await openai(bufferedFetch).chat.completions.create(ask('not gated'));
    assert.equal(gated, 1);
    // The global fetch, when asked for, is let out by the gate too.
    await openai(gatedFetch).chat.completions.create(ask('gated, global fetch'), { fetchOptions: wireOptions(gate) });
    assert.equal(gated, 2);
  });

  test('Anthropic: the answer and usage', async () => {
    const body = {
      model: 'claude-3-5-haiku-latest',
      max_tokens: 64,
      messages: [{ role: 'user' as const, content: 'hi' }],
    };
    const [ours, theirs] = await Promise.all(
      [bufferedFetch, undefined].map((fetch) => anthropic(fetch).messages.create(body))
    );
    assert.deepEqual(ours!.content, theirs!.content);
    assert.deepEqual(ours!.usage, theirs!.usage);
  });

  for (const [fault, expected] of [
    ['status=429,retryAfter=2', { type: 'RateLimited', retryAfterMs: 2000 }],
    ['status=500', { type: 'ServerError' }],
    ['drop', { type: 'ConnectionError' }],
    ['malformed', { type: 'MalformedResponse' }],
  ] as const) {
    test(`the fault "${fault}" is classified the same`, async () => {
      const results = [];
      for (const fetch of [bufferedFetch, undefined]) {
        results.push(await outcome(() => openai(fetch).chat.completions.create(ask(`[[sim:${fault}]] x`))));
      }
      const [ours, theirs] = results;
      assert.equal(ours!.errorClass, theirs!.errorClass, 'same SDK error class');
      assert.equal(ours!.error?.type, theirs!.error?.type);
      assert.equal(ours!.error?.retryable, theirs!.error?.retryable);
      for (const [key, value] of Object.entries(expected)) {
        assert.equal((ours!.error as unknown as Record<string, unknown>)?.[key], value, `${fault}: ${key}`);
      }
    });
  }

  test('a multipart upload goes to the global fetch and works', async () => {
    const file = await openai(bufferedFetch).files.create({
      file: await toFile(Buffer.from('{"custom_id":"a"}\n'), 'input.jsonl'),
      purpose: 'batch',
    });
    assert.match(file.id, /^file-/);
  });
});

describe('on the wire', () => {
  test('sends content-length and the JSON body, not a chunked one', async () => {
    await openai(bufferedFetch, `${rawURL}/plain`).chat.completions.create(ask('length please'));
    assert.equal(lastSeen!.headers['transfer-encoding'], undefined);
    assert.equal(Number(lastSeen!.headers['content-length']), Buffer.byteLength(lastSeen!.body));
    assert.equal(JSON.parse(lastSeen!.body).messages[0].content, 'length please');
    assert.equal(lastSeen!.headers.authorization, 'Bearer sk-test');
    assert.equal(lastSeen!.headers['accept-encoding'], 'gzip, deflate');
  });

  for (const coding of ['gzip', 'deflate', 'br']) {
    test(`reads a ${coding} answer`, async () => {
      const answer = await openai(bufferedFetch, `${rawURL}/${coding}`).chat.completions.create(ask('x'));
      assert.equal(answer.choices[0]!.message.content, 'compressed hello');
    });
  }

  test('follows a redirect without sending the request twice', async () => {
    hits = [];
    const answer = await openai(bufferedFetch, `${rawURL}/redirect`).chat.completions.create(ask('x'));
    assert.equal(answer.choices[0]!.message.content, 'compressed hello');
    assert.deepEqual(hits, ['POST /redirect/chat/completions', 'POST /gzip/chat/completions']);
    assert.equal(JSON.parse(lastSeen!.body).messages[0].content, 'x', '307 keeps the body');
  });

  test('a 303 becomes a GET without a body', async () => {
    hits = [];
    const response = await bufferedFetch(`${rawURL}/see-other/x`, { method: 'POST', body: '{"a":1}' });
    assert.equal(response.status, 200);
    assert.equal(response.redirected, true);
    assert.deepEqual(hits, ['POST /see-other/x', 'GET /plain/after-303']);
    assert.equal(lastSeen!.body, '');
    assert.equal(lastSeen!.headers['content-length'], undefined);
  });

  test('undoes two content codings, last applied first', async () => {
    const answer = await openai(bufferedFetch, `${rawURL}/two-codings`).chat.completions.create(ask('x'));
    assert.equal(answer.choices[0]!.message.content, 'compressed hello');
  });

  test('drops a byte-order mark before JSON, as fetch does', async () => {
    const answer = await openai(bufferedFetch, `${rawURL}/bom`).chat.completions.create(ask('x'));
    assert.equal(answer.choices[0]!.message.content, 'compressed hello');
  });

  test('an empty 200 has an empty body stream, a 204 none', async () => {
    const empty = await bufferedFetch(`${rawURL}/empty/x`);
    assert.notEqual(empty.body, null);
    assert.equal(empty.bodyUsed, false, 'asking for the stream does not use the body');
    assert.equal(await new Response(empty.body).text(), '');
    assert.equal(empty.bodyUsed, true, 'reading the stream does');
    const none = await bufferedFetch(`${rawURL}/no-content/x`);
    assert.equal(none.body, null);
  });

  test('a body cut short is a retryable connection error, not a parse of half a body', async () => {
    const result = await outcome(() => openai(bufferedFetch, `${rawURL}/cut`).chat.completions.create(ask('x')));
    assert.equal(result.errorClass, 'APIConnectionError');
    assert.equal(result.error?.type, 'ConnectionError');
    assert.equal(result.error?.retryable, true);
  });

  test('a refused connection names its cause', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const result = await outcome(() =>
      openai(bufferedFetch, `http://127.0.0.1:${port}/v1`).chat.completions.create(ask('x'))
    );
    assert.equal(result.errorClass, 'APIConnectionError');
    assert.equal(result.error?.type, 'ConnectionError');
    assert.match(result.error?.message ?? '', /ECONNREFUSED/);
  });

  test('the SDK timeout and the caller abort end a stalled answer', async () => {
    const timedOut = await outcome(() =>
      openai(bufferedFetch, `${rawURL}/stall`, 300).chat.completions.create(ask('x'))
    );
    assert.equal(timedOut.errorClass, 'APIConnectionTimeoutError');
    assert.equal(timedOut.error?.type, 'Timeout');

    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const aborted = await outcome(() =>
      openai(bufferedFetch, `${rawURL}/stall`).chat.completions.create(ask('x'), { signal: controller.signal })
    );
    assert.equal(aborted.errorClass, 'APIUserAbortError');
  });

  test('keeps every idle connection: answers that come together do not close all but 256', async () => {
    let connections = 0;
    const server = http.createServer((_req, res) => setTimeout(() => res.end(COMPLETION), 20));
    server.on('connection', () => connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    try {
      // Two waves of 400 at once: the second finds the first's 400 connections idle.
      for (let wave = 0; wave < 2; wave++) {
        await Promise.all(Array.from({ length: 400 }, async () => (await bufferedFetch(url)).text()));
      }
    } finally {
      server.closeAllConnections();
      server.close();
    }
    assert.equal(connections, 400);
  });

  test('the response works as a Response: clone, text, bodyUsed, body stream', async () => {
    const response = await bufferedFetch(`${rawURL}/plain`, { method: 'POST', body: '{}' });
    assert.equal(response.ok, true);
    assert.equal(response.status, 200);
    const copy = response.clone();
    assert.deepEqual(await response.json(), JSON.parse(COMPLETION));
    assert.equal(response.bodyUsed, true);
    await assert.rejects(response.text(), /already been read/);
    assert.equal(await new Response(copy.body).text(), COMPLETION);
  });
});

describe('over TLS', () => {
  const script = join(__dirname, '..', 'helpers', 'https-call.ts');
  const run = (env: NodeJS.ProcessEnv) => {
    const out = execFileSync(process.execPath, ['--import', 'tsx', script], { env: { ...process.env, ...env } });
    return JSON.parse(out.toString().trim().split('\n').pop()!) as {
      answers?: string[];
      error?: { type: string; message: string };
      connections: number;
      acceptEncoding: string[];
    };
  };

  test('answers over one kept-alive connection, asking for br as fetch does on https', () => {
    const result = run({ NODE_EXTRA_CA_CERTS: join(__dirname, '..', 'fixtures', 'tls', 'cert.pem') });
    assert.deepEqual(result.answers, ['tls: one', 'tls: two']);
    assert.equal(result.connections, 1);
    assert.deepEqual(result.acceptEncoding, ['br, gzip, deflate', 'br, gzip, deflate']);
  });

  test('verifies the certificate: an untrusted one is a connection error that says so', () => {
    const result = run({ NODE_EXTRA_CA_CERTS: '' });
    assert.equal(result.answers, undefined);
    assert.equal(result.error?.type, 'ConnectionError');
    assert.match(result.error?.message ?? '', /SELF_SIGNED|certificate/i);
  });
});

describe('choosing the HTTP client', () => {
  test('ours by default, the global fetch on request, and a clear error otherwise', () => {
    assert.equal(providerFetch({}), bufferedFetch);
    assert.equal(providerFetch({ CURATOR_HTTP_CLIENT: 'node' }), bufferedFetch);
    assert.equal(providerFetch({ CURATOR_HTTP_CLIENT: 'fetch' }), gatedFetch);
    assert.throws(() => providerFetch({ CURATOR_HTTP_CLIENT: 'curl' }), /CURATOR_HTTP_CLIENT must be "node".*"curl"/);
    assert.throws(() => new ProviderPool({ CURATOR_HTTP_CLIENT: 'curl' }), /CURATOR_HTTP_CLIENT/);
  });
});
