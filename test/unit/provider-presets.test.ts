/** Issue #15 part 9: presets for OpenAI-compatible servers: their facts, wire bodies and rate-limit header dialects. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidOptionsError } from '../../src/errors';
import { apiKeyFor, providerNamed, providerNames, providerPreset, resolveBaseURL } from '../../src/providers';
import { defineCurator } from '../../src/curator';
import { engineHeaders } from '../../src/providers/header-dialects';
import { PROVIDER_PRESETS } from '../../src/providers/presets';
import type { ProviderRequest } from '../../src/providers/types';
import { readRateLimitHeaders } from '../../src/limits/headers';
import { startSimulator, type Simulator } from '../../src/simulator';
import { optionsFromArgs } from '../../src/simulator/cli';

const schema = { type: 'object', properties: { label: { type: 'string' } }, required: ['label'] };
const request: ProviderRequest = {
  model: 'm',
  messages: [{ role: 'user', content: 'Label it.' }],
  params: { temperature: 0 },
  schema,
};
const jsonSchemaBody = {
  temperature: 0,
  model: 'm',
  messages: [{ role: 'user', content: 'Label it.' }],
  response_format: { type: 'json_schema', json_schema: { name: 'output_schema', schema } },
};
const jsonObjectBody = {
  temperature: 0,
  model: 'm',
  messages: [
    { role: 'system', content: `Answer with one JSON object that matches this JSON Schema: ${JSON.stringify(schema)}` },
    { role: 'user', content: 'Label it.' },
  ],
  response_format: { type: 'json_object' },
};

/** The facts each preset must carry: address, key variable, header dialect, structured-output method. */
const EXPECTED = {
  gemini: ['https://generativelanguage.googleapis.com/v1beta/openai', 'GEMINI_API_KEY', 'none', jsonSchemaBody],
  deepseek: ['https://api.deepseek.com/v1', 'DEEPSEEK_API_KEY', 'none', jsonObjectBody],
  together: ['https://api.together.xyz/v1', 'TOGETHER_API_KEY', 'together', jsonSchemaBody],
  groq: ['https://api.groq.com/openai/v1', 'GROQ_API_KEY', 'groq', jsonObjectBody],
  openrouter: ['https://openrouter.ai/api/v1', 'OPENROUTER_API_KEY', 'none', jsonSchemaBody],
  vllm: ['http://localhost:8000/v1', 'VLLM_API_KEY', 'none', jsonSchemaBody],
  ollama: ['http://localhost:11434/v1', 'OLLAMA_API_KEY', 'none', jsonSchemaBody],
  'llama.cpp': ['http://localhost:8080/v1', 'LLAMACPP_API_KEY', 'none', jsonSchemaBody],
} as const;

describe('provider presets', () => {
  test('every preset is registered by name with its address, key variable, dialect and exact wire body', () => {
    assert.deepEqual(
      PROVIDER_PRESETS.map((p) => p.name),
      Object.keys(EXPECTED)
    );
    for (const [name, [baseURL, keyVar, dialect, body]] of Object.entries(EXPECTED)) {
      const module = providerNamed(name);
      const preset = PROVIDER_PRESETS.find((p) => p.name === name)!;
      assert.equal(module.defaultBaseURL, baseURL, name);
      assert.equal(module.apiKeyEnv, keyVar, name);
      assert.equal(preset.rateLimitHeaders, dialect, name);
      assert.deepEqual(module.body(request), body, name);
      assert.deepEqual(module.body({ ...request, schema: undefined }), {
        temperature: 0,
        model: 'm',
        messages: [{ role: 'user', content: 'Label it.' }],
      });
      assert.equal(module.batch, undefined, `${name}: no Batch API`);
      assert.ok(module.estimateInputTokens(request) > 0);
    }
    assert.deepEqual(providerNamed('openai').body(request), jsonSchemaBody, 'OpenAI itself is unchanged');
  });

  test("a preset's key comes from its own variable only: missing, it stops the run naming the variable", () => {
    const curator = defineCurator({ name: 'g', model: 'llama-3.1-8b-instant', provider: 'groq', prompt: () => 'hi' });
    assert.throws(
      () => apiKeyFor(curator, { OPENAI_API_KEY: 'sk-openai' }),
      /curator 'g' uses groq but GROQ_API_KEY is not set in the worker's environment/
    );
    assert.equal(apiKeyFor(curator, { GROQ_API_KEY: 'gsk' }), 'gsk');
    assert.equal(resolveBaseURL(curator, {}), 'https://api.groq.com/openai/v1');
    assert.equal(resolveBaseURL(curator, { GROQ_BASE_URL: 'http://proxy/v1/' }), 'http://proxy/v1');
    const moved = defineCurator({ ...curator, backend: { baseURL: 'http://sim/openai/v1' } });
    assert.equal(resolveBaseURL(moved, { GROQ_BASE_URL: 'http://proxy/v1' }), 'http://sim/openai/v1');
  });

  test('every field can be overridden', () => {
    const mine = providerPreset('vllm', {
      name: 'vllm-gpu2',
      defaultBaseURL: 'http://gpu2:9000/v1',
      apiKeyEnv: 'GPU2_KEY',
      baseURLEnv: 'GPU2_URL',
      structuredOutput: 'json_object',
    });
    assert.equal(mine.name, 'vllm-gpu2');
    assert.equal(mine.defaultBaseURL, 'http://gpu2:9000/v1');
    assert.equal(mine.apiKeyEnv, 'GPU2_KEY');
    assert.equal(mine.baseURLEnv, 'GPU2_URL');
    assert.deepEqual(mine.body(request), jsonObjectBody);
    assert.equal(providerNamed('vllm').apiKeyEnv, 'VLLM_API_KEY', 'the registered preset is unchanged');
  });

  test('an unknown preset or provider name is a clear error listing the known ones', () => {
    assert.throws(
      () => providerPreset('grok'),
      (err: unknown) =>
        err instanceof InvalidOptionsError &&
        /unknown provider preset 'grok': the presets are 'gemini', 'deepseek', 'together', 'groq', 'openrouter', 'vllm', 'ollama', 'llama\.cpp'/.test(
          err.message
        )
    );
    assert.throws(
      () => providerNamed('grok'),
      /unknown provider 'grok': registered are 'openai', 'anthropic', 'gemini'.*'groq'/
    );
    for (const name of Object.keys(EXPECTED)) assert.ok(providerNames().includes(name));
  });
});

describe('rate-limit header dialects, as the engine reads them', () => {
  const headers = (h: Record<string, string>) => new Headers({ 'x-request-id': 'r1', ...h });

  test("groq: the requests headers count a day and are dropped; the tokens' per-minute limit is kept", () => {
    const out = engineHeaders(
      'groq',
      headers({
        'x-ratelimit-limit-requests': '14400',
        'x-ratelimit-remaining-requests': '14399',
        'x-ratelimit-limit-tokens': '6000',
        'x-ratelimit-remaining-tokens': '5990',
      })
    );
    assert.equal(out?.get('x-request-id'), 'r1');
    assert.deepEqual(readRateLimitHeaders(out)?.limits, { requestsPerMinute: undefined, tokensPerMinute: 6000 });
  });

  test('together: per-second limits become their per-minute equivalents, remainders are left out', () => {
    const out = engineHeaders(
      'together',
      headers({ 'x-ratelimit-limit': '10', 'x-ratelimit-remaining': '9', 'x-tokenlimit-limit': '2000' })
    );
    const snapshot = readRateLimitHeaders(out);
    assert.deepEqual(snapshot?.limits, { requestsPerMinute: 600, tokensPerMinute: 120000 });
    assert.equal(snapshot?.remainingRequests, undefined);
  });

  test('none: any rate-limit header is ignored; openai: passed as it is', () => {
    const h = headers({ 'x-ratelimit-limit-requests': '100', 'x-ratelimit-limit-tokens': '1000' });
    assert.equal(readRateLimitHeaders(engineHeaders('none', h)), undefined);
    assert.equal(engineHeaders('none', h)?.get('x-request-id'), 'r1');
    assert.equal(engineHeaders('openai', h), h);
  });
});

describe('the simulator speaks the dialects the presets rely on, through the real SDK', () => {
  let groqSim: Simulator;
  let togetherSim: Simulator;
  const rateLimits = { rpm: 600, tpm: 120_000 };

  before(async () => {
    groqSim = await startSimulator({ rateLimits, rateLimitHeaderDialect: 'groq' });
    togetherSim = await startSimulator({ rateLimits, rateLimitHeaderDialect: 'together' });
  });
  after(async () => {
    await groqSim.close();
    await togetherSim.close();
  });

  async function call(name: string, baseURL: string) {
    const client = providerNamed(name).createClient({ baseURL, apiKey: 'k' });
    return client.call({ ...request, schema: undefined }, { timeoutMs: 10_000 });
  }

  test("groq, under the preset's own path: the raw headers count a day, the engine learns the tokens only", async () => {
    const raw = await fetch(`${groqSim.url}/openai/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer k', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(raw.status, 200);
    assert.equal(raw.headers.get('x-ratelimit-limit-requests'), String(600 * 1440));
    assert.equal(raw.headers.get('x-ratelimit-limit-tokens'), '120000');
    const answer = await call('groq', `${groqSim.url}/openai/v1`);
    assert.ok(answer.text);
    assert.deepEqual(readRateLimitHeaders(answer.headers)?.limits, {
      requestsPerMinute: undefined,
      tokensPerMinute: 120000,
    });
  });

  test('together: the raw headers are per second, the engine learns the per-minute equivalents', async () => {
    const raw = await fetch(`${togetherSim.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer k', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(raw.headers.get('x-ratelimit-limit'), '10');
    assert.equal(raw.headers.get('x-tokenlimit-limit'), '2000');
    assert.equal(raw.headers.get('x-ratelimit-limit-requests'), null);
    const answer = await call('together', `${togetherSim.url}/v1`);
    assert.deepEqual(readRateLimitHeaders(answer.headers)?.limits, { requestsPerMinute: 600, tokensPerMinute: 120000 });
  });

  test('a concurrency-only preset ignores the headers even when the server sends some', async () => {
    const answer = await call('vllm', `${groqSim.url}/v1`);
    assert.ok(answer.text);
    assert.equal(readRateLimitHeaders(answer.headers), undefined);
  });
});

describe('the simulator command line', () => {
  test('--header-dialect picks a dialect; an unknown one is a clear error', () => {
    assert.equal(optionsFromArgs(['--header-dialect', 'together']).rateLimitHeaderDialect, 'together');
    assert.equal(optionsFromArgs([]).rateLimitHeaderDialect, undefined);
    assert.throws(
      () => optionsFromArgs(['--header-dialect', 'grok']),
      /--header-dialect expects one of openai, groq, together, got "grok"/
    );
  });
});
