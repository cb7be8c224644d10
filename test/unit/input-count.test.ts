/**
 * Input tokens are counted exactly only where a token limit could bind: far from every token limit, a request is
 * counted by its length and OpenAI's tokenizer is never loaded.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { inputNeedsCount, textChars, UNCOUNTED_TOKEN_SHARE } from '../../src/limits/estimate';

describe('inputNeedsCount', () => {
  test('a request limit far below the token limit: counted by length', () => {
    // OpenAI's tier of 30,000 RPM / 150M TPM: 5,000 tokens a request before tokens bind.
    assert.equal(inputNeedsCount({ requestsPerMinute: 30_000, tokensPerMinute: 150_000_000 }, 200, 256), false);
  });

  test('requests large enough to fill the share of the token limit: counted exactly', () => {
    const limits = { requestsPerMinute: 1000, tokensPerMinute: 1_000_000 };
    const perRequest = (UNCOUNTED_TOKEN_SHARE * limits.tokensPerMinute) / limits.requestsPerMinute;
    assert.equal(inputNeedsCount(limits, perRequest - 100, 100), false);
    assert.equal(inputNeedsCount(limits, perRequest - 100 + 1, 100), true);
  });

  test("Anthropic's separate input budget counts the input alone", () => {
    const limits = { requestsPerMinute: 4000, inputTokensPerMinute: 400_000, outputTokensPerMinute: 80_000 };
    assert.equal(inputNeedsCount(limits, 40, 4096), false);
    assert.equal(inputNeedsCount(limits, 60, 4096), true);
  });

  test('a per-second request limit counts as sixty times itself', () => {
    assert.equal(inputNeedsCount({ requestsPerSecond: 10, tokensPerMinute: 1_000_000 }, 800, 0), false);
    assert.equal(inputNeedsCount({ requestsPerSecond: 10, tokensPerMinute: 1_000_000 }, 900, 0), true);
  });

  test('a token limit without a request limit binds; no token limit never does', () => {
    assert.equal(inputNeedsCount({ tokensPerMinute: 150_000_000 }, 10, 10), true);
    assert.equal(inputNeedsCount({ requestsPerMinute: 10 }, 1_000_000, 0), false);
    assert.equal(inputNeedsCount({}, 1_000_000, 0), false);
  });
});

describe('textChars', () => {
  test("a request's text, in strings and text parts; none with an image or a file", () => {
    const request = (content: unknown) =>
      ({
        model: 'm',
        params: {},
        messages: [
          { role: 'system', content: 'abc' },
          { role: 'user', content },
        ],
      }) as never;
    assert.equal(textChars(request('hello')), 8);
    assert.equal(
      textChars(
        request([
          { type: 'text', text: 'hi' },
          { type: 'text', text: 'you' },
        ])
      ),
      8
    );
    assert.equal(
      textChars(
        request([
          { type: 'text', text: 'hi' },
          { type: 'image', source: { url: 'https://x/y.png' } },
        ])
      ),
      undefined
    );
  });
});

describe("OpenAI's tokenizer", () => {
  test('is loaded on the first exact count, not with the provider', async () => {
    const entry = require.resolve('gpt-tokenizer');
    const dir = entry.slice(0, entry.lastIndexOf('gpt-tokenizer') + 'gpt-tokenizer'.length);
    const loaded = () => Object.keys(require.cache).some((k) => k.startsWith(dir));
    assert.equal(loaded(), false, 'gpt-tokenizer was loaded before this test');
    const { openai } = await import('../../src/providers/openai');
    assert.equal(loaded(), false, 'importing the provider loads the tokenizer');
    const n = openai.estimateInputTokens({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hello world' }],
      params: {},
    });
    assert.ok(n > 0);
    assert.equal(loaded(), true);
  });
});
