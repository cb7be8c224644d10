/** Anthropic messages through the official SDK, with its retries off; structured output through a forced tool. */
import Anthropic from '@anthropic-ai/sdk';
import type { CallOptions, FinishReason, ProviderAnswer, ProviderClient, ProviderRequest } from './types';
import { checkAnswerBody } from './outcome';
import { DEFAULT_ANTHROPIC_MAX_TOKENS } from '../defaults';

const TOOL_NAME = 'output_schema';

const FINISH: Record<string, FinishReason> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  tool_use: 'stop',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  refusal: 'content_filter',
};

export class AnthropicProvider implements ProviderClient {
  readonly provider = 'anthropic' as const;
  private readonly client: Anthropic;

  constructor(
    readonly baseURL: string,
    apiKey: string,
    fetch?: typeof globalThis.fetch
  ) {
    this.client = new Anthropic({ apiKey, baseURL, maxRetries: 0, fetch });
  }

  async call(request: ProviderRequest, options: CallOptions): Promise<ProviderAnswer> {
    const { data, request_id, response } = await this.client.messages
      .create(anthropicBody(request) as unknown as Anthropic.MessageCreateParamsNonStreaming, {
        signal: options.signal,
        timeout: options.timeoutMs,
      })
      .withResponse();
    return { ...anthropicAnswer(checkAnswerBody(data)), requestId: request_id ?? undefined, headers: response.headers };
  }
}

/** The Messages body of a request: what a call sends, and the `params` of a message batch request. */
export function anthropicBody(request: ProviderRequest): Record<string, unknown> {
  const system = request.messages.filter((m) => m.role === 'system').map((m) => m.content);
  const body: Record<string, unknown> = {
    max_tokens: DEFAULT_ANTHROPIC_MAX_TOKENS,
    ...request.params,
    model: request.model,
    messages: request.messages.filter((m) => m.role !== 'system'),
  };
  if (system.length) body.system = system.join('\n\n');
  if (request.schema) {
    body.tools = [{ name: TOOL_NAME, description: 'Answer with this structure.', input_schema: request.schema }];
    body.tool_choice = { type: 'tool', name: TOOL_NAME };
  }
  return body;
}

/** A message as an answer, whether it came from a call or from a batch's results. */
export function anthropicAnswer(data: Anthropic.Message): Omit<ProviderAnswer, 'requestId' | 'headers'> {
  const raw = data.stop_reason ?? 'end_turn';
  const tool = data.content.find((block) => block.type === 'tool_use');
  const text = data.content
    .filter((block) => block.type === 'text')
    .map((block) => (block as { text: string }).text)
    .join('');
  return {
    text: tool ? JSON.stringify((tool as { input: unknown }).input) : text,
    object: tool ? (tool as { input: unknown }).input : undefined,
    refusal: raw === 'refusal' ? text || 'refused' : undefined,
    finishReason: FINISH[raw] ?? raw,
    rawFinishReason: raw,
    usage: { input: data.usage?.input_tokens ?? 0, output: data.usage?.output_tokens ?? 0 },
  };
}
