/** OpenAI chat completions (and any OpenAI-compatible server) through the official SDK, with its retries off. */
import OpenAI from 'openai';
import type { CallOptions, ProviderAnswer, ProviderClient, ProviderRequest } from './types';
import { checkAnswerBody, classifyError, type RequestError } from './outcome';

export class OpenAIProvider implements ProviderClient {
  readonly provider = 'openai' as const;
  private readonly client: OpenAI;

  constructor(
    readonly baseURL: string,
    apiKey: string,
    fetch?: typeof globalThis.fetch
  ) {
    // Every retry belongs to Temporal, where it is durable and visible; an SDK retry would be neither.
    this.client = new OpenAI({ apiKey, baseURL, maxRetries: 0, fetch });
  }

  classify(err: unknown): RequestError {
    return classifyError(err);
  }

  async call(request: ProviderRequest, options: CallOptions): Promise<ProviderAnswer> {
    const { data, request_id, response } = await this.client.chat.completions
      .create(openaiBody(request) as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming, {
        signal: options.signal,
        timeout: options.timeoutMs,
      })
      .withResponse();
    return { ...openaiAnswer(checkAnswerBody(data)), requestId: request_id ?? undefined, headers: response.headers };
  }
}

/** The Chat Completions body of a request: what a call sends, and a line of a batch input file carries. */
export function openaiBody(request: ProviderRequest): Record<string, unknown> {
  const body: Record<string, unknown> = { ...request.params, model: request.model, messages: request.messages };
  if (request.schema) {
    // Not strict, as Curator: strict mode rejects common schemas (optional fields, open objects).
    body.response_format = { type: 'json_schema', json_schema: { name: 'output_schema', schema: request.schema } };
  }
  return body;
}

/** A chat completion body as an answer, whether it came from a call or from a batch output file. */
export function openaiAnswer(data: OpenAI.ChatCompletion): Omit<ProviderAnswer, 'requestId' | 'headers'> {
  const choice = data.choices?.[0];
  const finish = choice?.finish_reason ?? 'stop';
  return {
    text: choice?.message?.content ?? null,
    refusal: choice?.message?.refusal ?? undefined,
    finishReason: finish,
    rawFinishReason: finish,
    usage: { input: data.usage?.prompt_tokens ?? 0, output: data.usage?.completion_tokens ?? 0 },
  };
}
