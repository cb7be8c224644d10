import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { classifyError, retryAfterFromHeaders, type RequestError } from '../../src/providers/outcome';
import { parseGoDuration } from '../../src/limits/durations';
import { formatGoDuration } from '../../src/simulator';

const NOW = Date.UTC(2025, 7, 21, 12, 40, 0);

function near(actual: number | undefined, expected: number, what = '') {
  assert.ok(actual !== undefined, `${what}: expected ~${expected}, got undefined`);
  assert.ok(Math.abs(actual - expected) < 1e-6, `${what}: expected ~${expected}, got ${actual}`);
}

describe('parseGoDuration', () => {
  test('reads the forms OpenAI sends', () => {
    assert.equal(parseGoDuration('1s'), 1000);
    assert.equal(parseGoDuration('0s'), 0);
    assert.equal(parseGoDuration('6m0s'), 360_000);
    assert.equal(parseGoDuration('12ms'), 12);
    assert.equal(parseGoDuration('1.5s'), 1500);
    assert.equal(parseGoDuration('1h2m3s'), 3_723_000);
    assert.equal(parseGoDuration('1h2m'), 3_720_000);
    assert.equal(parseGoDuration('2h'), 7_200_000);
    near(parseGoDuration('17.283s'), 17_283, '17.283s');
    near(parseGoDuration('1m30.5s'), 90_500, '1m30.5s');
    near(parseGoDuration('500us'), 0.5, '500us');
    near(parseGoDuration('500µs'), 0.5, '500µs');
    near(parseGoDuration('250ns'), 0.00025, '250ns');
  });

  test('"ms" is milliseconds, not minutes then seconds', () => {
    assert.equal(parseGoDuration('5ms'), 5);
    assert.equal(parseGoDuration('5m'), 300_000);
    assert.equal(parseGoDuration('5m5s'), 305_000);
  });

  test('tolerates surrounding whitespace', () => {
    assert.equal(parseGoDuration(' 1s '), 1000);
  });

  test('anything else is undefined', () => {
    for (const text of [
      '',
      ' ',
      'abc',
      '1',
      '1.5',
      '1x',
      's',
      'ms',
      '1s garbage',
      'x1s',
      '-1s',
      '1 s',
      '1s 2s',
      '1.s',
      '1.5.3s',
      '1d',
      'NaN',
    ]) {
      assert.equal(parseGoDuration(text), undefined, JSON.stringify(text));
    }
  });

  test('round-trips the simulator formatting (to floating point precision)', () => {
    for (const ms of [0, 1, 12, 999, 1000, 1001, 1500, 2023, 17_283, 59_999, 60_000, 360_000, 3_723_500, 7_200_001]) {
      near(parseGoDuration(formatGoDuration(ms)), ms, formatGoDuration(ms));
    }
  });
});

describe('retryAfterFromHeaders', () => {
  test('no headers, no hint', () => {
    assert.equal(retryAfterFromHeaders(undefined), undefined);
    assert.equal(retryAfterFromHeaders(new Headers()), undefined);
    assert.equal(retryAfterFromHeaders(new Headers({ 'content-type': 'application/json' })), undefined);
  });

  test('retry-after-ms wins over every other header', () => {
    const headers = new Headers({
      'retry-after-ms': '250',
      'retry-after': '30',
      'x-ratelimit-reset-requests': '6m0s',
      'anthropic-ratelimit-requests-reset': new Date(NOW + 60_000).toISOString(),
    });
    assert.equal(retryAfterFromHeaders(headers, NOW), 250);
    assert.equal(retryAfterFromHeaders(new Headers({ 'retry-after-ms': '12.5' }), NOW), 12.5);
    assert.equal(retryAfterFromHeaders(new Headers({ 'retry-after-ms': '0' }), NOW), 0);
  });

  test('an unusable retry-after-ms falls back to retry-after', () => {
    assert.equal(retryAfterFromHeaders(new Headers({ 'retry-after-ms': 'soon', 'retry-after': '3' }), NOW), 3000);
    assert.equal(retryAfterFromHeaders(new Headers({ 'retry-after-ms': '-5', 'retry-after': '3' }), NOW), 3000);
  });

  test('retry-after in seconds', () => {
    assert.equal(retryAfterFromHeaders(new Headers({ 'retry-after': '20' }), NOW), 20_000);
    assert.equal(retryAfterFromHeaders(new Headers({ 'retry-after': '0.5' }), NOW), 500);
    assert.equal(retryAfterFromHeaders(new Headers({ 'retry-after': '0' }), NOW), 0);
  });

  test('retry-after as an HTTP date', () => {
    const at = new Date(NOW + 45_000).toUTCString();
    assert.match(at, /GMT$/);
    assert.equal(retryAfterFromHeaders(new Headers({ 'retry-after': at }), NOW), 45_000);
    // A date in the past means "now", never a negative wait.
    assert.equal(retryAfterFromHeaders(new Headers({ 'retry-after': new Date(NOW - 5000).toUTCString() }), NOW), 0);
  });

  test('retry-after wins over the reset headers', () => {
    const headers = new Headers({ 'retry-after': '2', 'x-ratelimit-reset-tokens': '6m0s' });
    assert.equal(retryAfterFromHeaders(headers, NOW), 2000);
  });

  test('unparseable retry-after falls through to the reset headers', () => {
    const headers = new Headers({ 'retry-after': 'whenever', 'x-ratelimit-reset-requests': '7s' });
    assert.equal(retryAfterFromHeaders(headers, NOW), 7000);
  });

  test('OpenAI reset durations: the longer of requests and tokens', () => {
    assert.equal(
      retryAfterFromHeaders(
        new Headers({ 'x-ratelimit-reset-requests': '1s', 'x-ratelimit-reset-tokens': '6m0s' }),
        NOW
      ),
      360_000
    );
    assert.equal(
      retryAfterFromHeaders(
        new Headers({ 'x-ratelimit-reset-requests': '12ms', 'x-ratelimit-reset-tokens': '1.5s' }),
        NOW
      ),
      1500
    );
    assert.equal(retryAfterFromHeaders(new Headers({ 'x-ratelimit-reset-tokens': '250ms' }), NOW), 250);
    // A garbled value is ignored, not read as zero.
    assert.equal(
      retryAfterFromHeaders(
        new Headers({ 'x-ratelimit-reset-requests': 'later', 'x-ratelimit-reset-tokens': '3s' }),
        NOW
      ),
      3000
    );
    assert.equal(retryAfterFromHeaders(new Headers({ 'x-ratelimit-reset-requests': 'later' }), NOW), undefined);
  });

  test('Anthropic RFC 3339 resets: the latest one still in the future', () => {
    const headers = new Headers({
      'anthropic-ratelimit-requests-reset': '2025-08-21T12:40:12Z',
      'anthropic-ratelimit-tokens-reset': '2025-08-21T12:40:59Z',
      'anthropic-ratelimit-input-tokens-reset': '2025-08-21T12:40:30Z',
      'anthropic-ratelimit-output-tokens-reset': '2025-08-21T12:39:00Z',
    });
    assert.equal(retryAfterFromHeaders(headers, NOW), 59_000);
    assert.equal(
      retryAfterFromHeaders(new Headers({ 'anthropic-ratelimit-output-tokens-reset': '2025-08-21T12:40:03Z' }), NOW),
      3000
    );
    // Only past resets: no hint.
    assert.equal(
      retryAfterFromHeaders(new Headers({ 'anthropic-ratelimit-requests-reset': '2025-08-21T12:39:00Z' }), NOW),
      undefined
    );
    assert.equal(
      retryAfterFromHeaders(new Headers({ 'anthropic-ratelimit-requests-reset': 'garbage' }), NOW),
      undefined
    );
  });

  test('Anthropic retry-after wins over its resets', () => {
    const headers = new Headers({ 'retry-after': '4', 'anthropic-ratelimit-tokens-reset': '2025-08-21T12:40:59Z' });
    assert.equal(retryAfterFromHeaders(headers, NOW), 4000);
  });

  test('uses the current time by default', () => {
    const hint = retryAfterFromHeaders(
      new Headers({ 'anthropic-ratelimit-requests-reset': new Date(Date.now() + 30_000).toISOString() })
    );
    assert.ok(hint !== undefined && hint > 25_000 && hint <= 30_000, String(hint));
  });

  test('an empty retry-after-ms or retry-after header is no hint', () => {
    assert.equal(retryAfterFromHeaders(new Headers({ 'retry-after-ms': '', 'retry-after': '3' }), NOW), 3000);
    assert.equal(
      retryAfterFromHeaders(new Headers({ 'retry-after': '', 'x-ratelimit-reset-tokens': '2s' }), NOW),
      2000
    );
  });
});

function openaiError(status: number, error: Record<string, unknown> | undefined, headers: Record<string, string> = {}) {
  return OpenAI.APIError.generate(status, error ? { error } : undefined, undefined, new Headers(headers));
}

function anthropicError(status: number, type: string, message: string, headers: Record<string, string> = {}) {
  return Anthropic.APIError.generate(
    status,
    { type: 'error', error: { type, message } },
    undefined,
    new Headers({ 'request-id': 'req_1', ...headers })
  );
}

function expectClass(err: unknown, expected: Partial<RequestError>): RequestError {
  const got = classifyError(err);
  for (const [key, value] of Object.entries(expected)) {
    assert.deepEqual(got[key as keyof RequestError], value, `${key} of ${JSON.stringify(got)}`);
  }
  return got;
}

describe('classifyError (openai)', () => {
  test('429 rate limit: retryable with the provider hint', () => {
    const err = openaiError(
      429,
      {
        message: 'Rate limit reached for gpt-4o-mini on requests per min (RPM)',
        type: 'requests',
        code: 'rate_limit_exceeded',
      },
      { 'retry-after-ms': '750', 'x-ratelimit-reset-requests': '1s' }
    );
    assert.ok(err instanceof OpenAI.RateLimitError);
    const got = expectClass(err, { type: 'RateLimited', status: 429, retryable: true, retryAfterMs: 750 });
    assert.equal(got.fatal, undefined);
    assert.match(got.message, /Rate limit reached/);
  });

  test('429 rate limit with only reset headers', () => {
    const err = openaiError(
      429,
      { message: 'Rate limit reached for tokens per min', type: 'tokens', code: 'rate_limit_exceeded' },
      { 'x-ratelimit-reset-requests': '120ms', 'x-ratelimit-reset-tokens': '1.5s' }
    );
    expectClass(err, { type: 'RateLimited', retryable: true, retryAfterMs: 1500 });
  });

  test('429 without any hint is still a retryable rate limit', () => {
    expectClass(openaiError(429, { message: 'Too many requests', type: 'requests', code: null }), {
      type: 'RateLimited',
      retryable: true,
      retryAfterMs: undefined,
    });
  });

  test('429 insufficient_quota is fatal and not retried', () => {
    const err = openaiError(429, {
      message: 'You exceeded your current quota, please check your plan and billing details.',
      type: 'insufficient_quota',
      param: null,
      code: 'insufficient_quota',
    });
    const got = expectClass(err, { type: 'InsufficientQuota', status: 429, retryable: false, fatal: true });
    assert.equal(got.retryAfterMs, undefined);
  });

  test('429 with x-should-retry: false is not retried', () => {
    expectClass(
      openaiError(429, { message: 'Slow down', type: 'requests', code: null }, { 'x-should-retry': 'false' }),
      {
        type: 'InsufficientQuota',
        retryable: false,
        fatal: true,
      }
    );
  });

  test("429 'Request too large' is final for the request, not fatal for the job", () => {
    const err = openaiError(
      429,
      {
        message:
          'Request too large for gpt-4o-mini in organization org-abc on tokens per min (TPM): Limit 200000, Requested 250000.',
        type: 'tokens',
        code: 'rate_limit_exceeded',
      },
      { 'retry-after-ms': '100' }
    );
    const got = expectClass(err, { type: 'RequestTooLarge', status: 429, retryable: false });
    assert.ok(!got.fatal);
  });

  test('401, 403 and 404 stop the job', () => {
    const cases: [number, string][] = [
      [401, 'AuthenticationFailed'],
      [403, 'PermissionDenied'],
      [404, 'NotFound'],
    ];
    for (const [status, type] of cases) {
      const err = openaiError(status, { message: `nope ${status}`, type: 'invalid_request_error', code: null });
      expectClass(err, { type: type as RequestError['type'], status, retryable: false, fatal: true });
    }
    assert.ok(openaiError(401, { message: 'Incorrect API key' }) instanceof OpenAI.AuthenticationError);
  });

  test('400 and 422 fail the request for good without stopping the job', () => {
    for (const status of [400, 422]) {
      const err = openaiError(status, {
        message: "Invalid value for 'temperature'",
        type: 'invalid_request_error',
        param: 'temperature',
        code: 'invalid_value',
      });
      const got = expectClass(err, { type: 'BadRequest', status, retryable: false });
      assert.ok(!got.fatal, `status ${status}`);
    }
  });

  test('408, 409, 500 and 503 are retried with any hint', () => {
    const cases: [number, string][] = [
      [408, 'Timeout'],
      [409, 'ServerError'],
      [500, 'ServerError'],
      [502, 'ServerError'],
      [503, 'ServerError'],
    ];
    for (const [status, type] of cases) {
      const got = expectClass(openaiError(status, { message: 'try again' }, { 'retry-after': '2' }), {
        type: type as RequestError['type'],
        status,
        retryable: true,
        retryAfterMs: 2000,
      });
      assert.ok(!got.fatal);
    }
    expectClass(openaiError(500, undefined), { type: 'ServerError', retryable: true, retryAfterMs: undefined });
  });

  test('another 4xx with x-should-retry: true is retried', () => {
    expectClass(openaiError(418, { message: 'teapot' }, { 'x-should-retry': 'true' }), {
      type: 'ProviderError',
      status: 418,
      retryable: true,
    });
    expectClass(openaiError(418, { message: 'teapot' }), { type: 'BadRequest', retryable: false });
  });

  test('connection errors and timeouts have no status and are retried', () => {
    const conn = classifyError(new OpenAI.APIConnectionError({ message: 'Connection error.' }));
    assert.deepEqual(conn, { type: 'ConnectionError', message: 'Connection error.', retryable: true });
    const refused = classifyError(new OpenAI.APIConnectionError({ message: 'connect ECONNREFUSED 127.0.0.1:9' }));
    assert.equal(refused.type, 'ConnectionError');
    const timeout = classifyError(new OpenAI.APIConnectionTimeoutError());
    assert.deepEqual(timeout, { type: 'Timeout', message: 'Request timed out.', retryable: true });
    // generate() without headers is how the SDK reports a failed fetch.
    const generated = OpenAI.APIError.generate(undefined, new Error('socket hang up'), 'Connection error.', undefined);
    assert.equal(classifyError(generated).type, 'ConnectionError');
  });
});

describe('classifyError (anthropic)', () => {
  test('429 rate_limit_error: retryable with retry-after', () => {
    const err = anthropicError(
      429,
      'rate_limit_error',
      'Number of request tokens has exceeded your per-minute rate limit',
      {
        'retry-after': '12',
        'anthropic-ratelimit-tokens-reset': new Date(Date.now() + 60_000).toISOString(),
      }
    );
    assert.ok(err instanceof Anthropic.RateLimitError);
    const got = expectClass(err, { type: 'RateLimited', status: 429, retryable: true, retryAfterMs: 12_000 });
    assert.ok(!got.fatal);
  });

  test('429 with only the reset headers', () => {
    const err = anthropicError(429, 'rate_limit_error', 'rate limited', {
      'anthropic-ratelimit-requests-reset': new Date(Date.now() + 20_000).toISOString(),
    });
    const got = expectClass(err, { type: 'RateLimited', retryable: true });
    assert.ok(got.retryAfterMs !== undefined && got.retryAfterMs > 15_000 && got.retryAfterMs <= 20_000);
  });

  test('529 overloaded and 500 api_error are retried', () => {
    expectClass(anthropicError(529, 'overloaded_error', 'Overloaded'), {
      type: 'Overloaded',
      status: 529,
      retryable: true,
    });
    expectClass(anthropicError(500, 'api_error', 'Internal server error'), { type: 'ServerError', retryable: true });
    expectClass(anthropicError(503, 'api_error', 'unavailable', { 'retry-after': '1' }), {
      type: 'ServerError',
      retryable: true,
      retryAfterMs: 1000,
    });
  });

  test('413 request_too_large is final', () => {
    const got = expectClass(
      anthropicError(413, 'request_too_large', 'Request exceeds the maximum allowed number of bytes'),
      {
        type: 'RequestTooLarge',
        status: 413,
        retryable: false,
      }
    );
    assert.ok(!got.fatal);
  });

  test('auth, permission and not-found errors are fatal; invalid requests are final', () => {
    expectClass(anthropicError(401, 'authentication_error', 'invalid x-api-key'), {
      type: 'AuthenticationFailed',
      fatal: true,
      retryable: false,
    });
    expectClass(anthropicError(403, 'permission_error', 'no access'), { type: 'PermissionDenied', fatal: true });
    expectClass(anthropicError(404, 'not_found_error', 'model: claude-nope'), { type: 'NotFound', fatal: true });
    const bad = expectClass(anthropicError(400, 'invalid_request_error', 'max_tokens: Field required'), {
      type: 'BadRequest',
      retryable: false,
    });
    assert.ok(!bad.fatal);
    expectClass(anthropicError(422, 'invalid_request_error', 'unprocessable'), {
      type: 'BadRequest',
      retryable: false,
    });
  });

  test('connection errors and timeouts', () => {
    assert.equal(
      classifyError(new Anthropic.APIConnectionError({ message: 'Connection error.' })).type,
      'ConnectionError'
    );
    assert.deepEqual(classifyError(new Anthropic.APIConnectionTimeoutError()), {
      type: 'Timeout',
      message: 'Request timed out.',
      retryable: true,
    });
    assert.equal(classifyError(new Anthropic.APIConnectionTimeoutError({ message: 'slow' })).type, 'Timeout');
  });
});

describe('classifyError (other values)', () => {
  test('transport failures are retryable connection errors; anything else is a final provider error', () => {
    assert.deepEqual(classifyError(new Error('fetch failed')), {
      type: 'ConnectionError',
      message: 'fetch failed',
      retryable: true,
    });
    assert.deepEqual(classifyError(new TypeError("Cannot read properties of undefined (reading 'x')")), {
      type: 'ProviderError',
      message: "TypeError: Cannot read properties of undefined (reading 'x')",
      retryable: false,
    });
    assert.equal(classifyError('boom').message, 'Error: boom');
    assert.equal(classifyError(undefined).type, 'ProviderError');
    assert.equal(classifyError(Object.assign(new Error('read ECONNRESET'), { name: 'Error' })).type, 'ConnectionError');
    const abort = Object.assign(new Error('The operation timed out'), { name: 'TimeoutError' });
    assert.equal(classifyError(abort).type, 'Timeout');
  });

  test('the message is capped at 2000 characters', () => {
    const long = openaiError(400, { message: 'x'.repeat(5000) });
    assert.equal(classifyError(long).message.length, 2000);
  });
});

test('reset headers are no hint for a server error, nor for a budget that is not used up', () => {
  const headers = {
    'x-ratelimit-remaining-requests': '9000',
    'x-ratelimit-reset-requests': '6s',
    'x-ratelimit-remaining-tokens': '0',
    'x-ratelimit-reset-tokens': '1.5s',
  };
  const serverError = OpenAI.APIError.generate(500, { error: { message: 'boom' } }, 'boom', new Headers(headers));
  assert.equal(classifyError(serverError).retryAfterMs, undefined);
  const rateLimited = OpenAI.APIError.generate(
    429,
    { error: { message: 'slow down' } },
    'slow down',
    new Headers(headers)
  );
  assert.equal(classifyError(rateLimited).retryAfterMs, 1500, 'only the exhausted token budget counts');
});
