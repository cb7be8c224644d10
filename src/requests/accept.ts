/**
 * Stage "accept" of a request's life: a provider answer is accepted or rejected. Truncated, filtered or refused answers and
 * output that breaks the response schema are rejected as retryable, as in Curator.
 */
import type { RequestError } from '../providers/outcome';
import type { ProviderAnswer } from '../providers/types';
import { resolveResponseFormat, type ResponseFormat } from '../schema';
import type { Curator } from '../curator';
import type { AttemptRecord } from '../storage/response-log';
import { DEFAULT_INVALID_FINISH_REASONS } from '../defaults';

export type Accepted = { ok: true; value: unknown };

export function acceptAnswer(
  answer: Omit<ProviderAnswer, 'headers'>,
  format: ResponseFormat | undefined,
  invalidFinishReasons: readonly string[]
): Accepted | { ok: false; error: RequestError } {
  if (answer.refusal) {
    return { ok: false, error: { type: 'Refusal', message: `the model refused: ${answer.refusal}`, retryable: true } };
  }
  if (invalidFinishReasons.includes(answer.finishReason)) {
    return {
      ok: false,
      error: {
        type: 'InvalidFinishReason',
        message: `finish reason '${answer.rawFinishReason}' is in invalidFinishReasons`,
        retryable: true,
      },
    };
  }
  if (!format) {
    if (answer.text === null)
      return { ok: false, error: { type: 'EmptyResponse', message: 'no content', retryable: true } };
    return { ok: true, value: answer.text };
  }
  let value = answer.object;
  if (value === undefined) {
    if (answer.text === null)
      return { ok: false, error: { type: 'EmptyResponse', message: 'no content', retryable: true } };
    try {
      value = JSON.parse(answer.text);
    } catch (err) {
      return {
        ok: false,
        error: {
          type: 'InvalidJson',
          message: `structured output is not JSON: ${(err as Error).message}`,
          retryable: true,
        },
      };
    }
  }
  const checked = format.validate(value);
  if (!checked.ok) {
    return {
      ok: false,
      error: {
        type: 'SchemaMismatch',
        message: `output breaks the response schema: ${checked.error}`,
        retryable: true,
      },
    };
  }
  return { ok: true, value: checked.value };
}

/** The fields of an attempt record for an answer, accepted or rejected. */
export type AnswerFields = Pick<
  AttemptRecord,
  'ok' | 'value' | 'error' | 'finish' | 'thinking' | 'usage' | 'requestId'
>;

/**
 * The curator's acceptance test, ready to apply to each answer of a shard: the same for an answer of a call of its
 * own and for a result of a provider batch.
 */
export function answerAcceptor(curator: Curator): (answer: Omit<ProviderAnswer, 'headers'>) => AnswerFields {
  const format = resolveResponseFormat(curator.responseFormat);
  const invalidFinishReasons = curator.backend?.invalidFinishReasons ?? DEFAULT_INVALID_FINISH_REASONS;
  return (answer) => {
    const accepted = acceptAnswer(answer, format, invalidFinishReasons);
    const shared = {
      finish: answer.rawFinishReason,
      thinking: answer.thinking,
      usage: answer.usage,
      requestId: answer.requestId,
    };
    return accepted.ok
      ? { ...shared, ok: true, value: accepted.value }
      : { ...shared, ok: false, error: accepted.error };
  };
}
