/**
 * Reasoning models, the pure parts: `reasoning_effort` and `thinking` reach the wire body and the fingerprint, the
 * answers' reasoning tokens and thinking text are read, kept in the response log, counted and priced as output, and
 * the output estimate asks for room for reasoning before any answer is seen.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type OpenAI from 'openai';
import type Anthropic from '@anthropic-ai/sdk';
import { defineCurator } from '../../src/curator';
import { costUsd } from '../../src/cost';
import { DEFAULT_ANTHROPIC_MAX_TOKENS } from '../../src/defaults';
import { OutputEstimator, REASONING_EFFORT_ALLOWANCE, reasoningAllowance } from '../../src/limits/estimate';
import { anthropicAnswer, anthropicAnswers, anthropicBody } from '../../src/providers/anthropic';
import { openaiAnswer, openaiBody } from '../../src/providers/openai';
import { formatSummary } from '../../src/cli/summary';
import { answerAcceptor } from '../../src/requests/accept';
import { answerView } from '../../src/requests/answer-view';
import { runFingerprint } from '../../src/requests/fingerprint';
import { ShardLog } from '../../src/storage/response-log';
import type { CurationManifest } from '../../src/types';
import type { ProviderRequest } from '../../src/types/requests';

const request = (params: Record<string, unknown>): ProviderRequest => ({
  model: 'o4-mini',
  messages: [{ role: 'user', content: 'why?' }],
  params,
});

describe('reasoning params on the wire', () => {
  test('reasoning_effort passes into the OpenAI body and changes the fingerprint', () => {
    assert.equal(openaiBody(request({ reasoning_effort: 'high' })).reasoning_effort, 'high');
    const env = { OPENAI_BASE_URL: 'http://127.0.0.1:1/v1' };
    const curator = (generationParams: Record<string, unknown>) =>
      defineCurator({ name: 'r', model: 'o4-mini', prompt: () => 'x', generationParams });
    const low = runFingerprint(curator({ reasoning_effort: 'low' }), 'd', env);
    assert.notEqual(low, runFingerprint(curator({ reasoning_effort: 'high' }), 'd', env));
    assert.notEqual(low, runFingerprint(curator({}), 'd', env));
  });

  test('Anthropic thinking passes into the body; without max_tokens, the default leaves room for the budget', () => {
    const thinking = { type: 'enabled', budget_tokens: 2048 };
    const body = anthropicBody({ ...request({ thinking }), model: 'claude-sonnet-4-5' });
    assert.deepEqual(body.thinking, thinking);
    assert.equal(body.max_tokens, DEFAULT_ANTHROPIC_MAX_TOKENS + 2048);
    assert.equal(anthropicBody(request({ thinking, max_tokens: 3000 })).max_tokens, 3000);
    assert.equal(anthropicBody(request({})).max_tokens, DEFAULT_ANTHROPIC_MAX_TOKENS);
  });
});

describe('reasoning in answers', () => {
  test("OpenAI's reasoning tokens are read from completion_tokens_details, as part of the output", () => {
    const completion = {
      choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: '42' } }],
      usage: { prompt_tokens: 10, completion_tokens: 300, completion_tokens_details: { reasoning_tokens: 256 } },
    } as unknown as OpenAI.ChatCompletion;
    assert.deepEqual(openaiAnswer(completion).usage, { input: 10, output: 300, reasoning: 256 });
    const plain = { ...completion, usage: { prompt_tokens: 10, completion_tokens: 44 } } as OpenAI.ChatCompletion;
    assert.deepEqual(openaiAnswer(plain).usage, { input: 10, output: 44 });
  });

  test("an OpenAI-compatible server's reasoning_content or reasoning becomes the thinking text", () => {
    const completion = {
      choices: [{ finish_reason: 'stop', message: { content: '42', reasoning_content: 'six times seven' } }],
    } as unknown as OpenAI.ChatCompletion;
    assert.equal(openaiAnswer(completion).thinking, 'six times seven');
    const openrouter = {
      choices: [{ finish_reason: 'stop', message: { content: '42', reasoning: 'seven times six' } }],
    } as unknown as OpenAI.ChatCompletion;
    assert.equal(openaiAnswer(openrouter).thinking, 'seven times six');
  });

  test("Anthropic's thinking blocks become the thinking text, apart from the answer", () => {
    const message = {
      content: [
        { type: 'thinking', thinking: 'first, ', signature: 's' },
        { type: 'redacted_thinking', data: 'x' },
        { type: 'text', text: 'the answer' },
      ],
      stop_reason: 'end_turn',
      usage: { input_tokens: 5, output_tokens: 50 },
    } as unknown as Anthropic.Message;
    const answer = anthropicAnswer(message);
    assert.equal(answer.text, 'the answer');
    assert.equal(answer.thinking, 'first, ');
    assert.equal(anthropicAnswer({ ...message, content: [message.content[2]] }).thinking, undefined);
  });

  test('thinking and reasoning tokens are recorded, summed per request and priced as output', () => {
    const accept = answerAcceptor(defineCurator({ name: 'r', model: 'o4-mini', prompt: () => 'x' }));
    const fields = accept({
      text: 'yes',
      thinking: 'hmm',
      finishReason: 'stop',
      rawFinishReason: 'stop',
      usage: { input: 10, output: 300, reasoning: 256 },
    });
    assert.equal(fields.thinking, 'hmm');
    const log = new ShardLog();
    log.apply({ i: 0, job: 'j', attempt: 1, at: '', ...fields }, 'j');
    log.apply({ i: 0, job: 'j', attempt: 2, at: '', ...fields }, 'j');
    assert.deepEqual(log.state(0).tokens, { input: 20, output: 600, reasoning: 512 });
    const prices = { inputPerMillion: 1, outputPerMillion: 4, source: 'curator' as const };
    // 300 output tokens, 256 of them reasoning: all 300 at the output price.
    assert.equal(costUsd(prices, { input: 10, output: 300, reasoning: 256 }), (10 * 1 + 300 * 4) / 1_000_000);
  });
});

describe('output estimates of reasoning requests', () => {
  test('before any answer: 256 plus the thinking budget or the effort allowance, within max_tokens', () => {
    const estimator = new OutputEstimator();
    assert.equal(estimator.estimate(request({}), false), 256);
    assert.equal(estimator.estimate(request({ reasoning_effort: 'high' }), false), 256 + 4096);
    assert.equal(estimator.estimate(request({ reasoning_effort: 'high', max_completion_tokens: 1000 }), false), 1000);
    const thinking = { type: 'enabled', budget_tokens: 3000 };
    assert.equal(estimator.estimate(request({ thinking }), false), 256 + 3000);
    // Anthropic reserves max_tokens, which holds the budget.
    assert.equal(estimator.estimate(request({ thinking, max_tokens: 8000 }), true), 8000);
  });

  test('allowances: by effort (unknown counts as medium), by budget, none without reasoning', () => {
    assert.equal(reasoningAllowance(request({ reasoning_effort: 'minimal' })), REASONING_EFFORT_ALLOWANCE.minimal);
    assert.equal(reasoningAllowance(request({ reasoning_effort: 'extreme' })), REASONING_EFFORT_ALLOWANCE.medium);
    assert.equal(reasoningAllowance(request({ thinking: { type: 'disabled' } })), 0);
    assert.equal(reasoningAllowance(request({ thinking: { type: 'enabled', budget_tokens: 1024 } })), 1024);
  });

  test('once answers are observed, their sizes (reasoning included) replace the allowance', () => {
    const estimator = new OutputEstimator();
    estimator.observe(1500);
    estimator.observe(2500);
    assert.equal(estimator.estimate(request({ reasoning_effort: 'high' }), false), 2000);
  });
});

describe('what parse and people see', () => {
  test("the answer parse receives has the recorded thinking and usage's reasoning; none when there was none", () => {
    const usage = { input: 1, output: 30, reasoning: 20 };
    const view = answerView({ ok: true, value: 'x', finish: 'stop', thinking: 'because', usage });
    assert.equal(view.thinking, 'because');
    assert.deepEqual(view.usage, usage);
    assert.equal('thinking' in answerView({ ok: true, value: 'x', finish: 'stop' }), false);
  });

  test('with n, each choice keeps its own thinking, in the log and in the answer parse receives', () => {
    const message = (thinking: string | null, text: string) =>
      ({
        content: [...(thinking ? [{ type: 'thinking', thinking, signature: 's' }] : []), { type: 'text', text }],
        stop_reason: 'end_turn',
        usage: { input_tokens: 5, output_tokens: 50 },
      }) as unknown as Anthropic.Message;
    const accept = answerAcceptor(defineCurator({ name: 'n-think', model: 'claude-x', prompt: () => 'x' }));
    const fields = accept(
      anthropicAnswers([message('a first', 'one'), message('b first', 'two'), message(null, 'three')])
    );
    assert.deepEqual(fields.moreChoices, [
      { value: 'two', finish: 'end_turn', thinking: 'b first' },
      { value: 'three', finish: 'end_turn' },
    ]);
    const view = answerView(fields);
    assert.deepEqual(
      view.choices.map((c) => c.thinking),
      ['a first', 'b first', undefined]
    );
    assert.equal(view.thinking, 'a first');
    assert.equal('thinking' in view.choices[2]!, false);
  });

  test("the run's summary tells reasoning tokens and reused answers, only when there are some", () => {
    const stats = { total: 4, succeeded: 4, failed: 0, cached: 3, outputRows: 4, retries: 0 };
    // Only what the summary's two lines read; the rest of a manifest is beside the point here.
    const manifest = { curator: 'c', runHash: 'r', fromCache: false } as Omit<CurationManifest, 'stats'>;
    const text = formatSummary({
      ...manifest,
      stats: { ...stats, reused: 2, tokens: { input: 10, output: 300, reasoning: 256 } },
    });
    assert.match(text, /3 cached \(2 reused from other runs\)/);
    assert.match(text, /300 out \(256 of them reasoning\)/);
    const plain = formatSummary({ ...manifest, stats: { ...stats, tokens: { input: 10, output: 300 } } });
    assert.doesNotMatch(plain, /reused|reasoning/);
  });
});
