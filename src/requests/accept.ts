/**
 * Stage "accept" of a request's life: a provider answer is accepted or rejected. Truncated, filtered or refused answers,
 * output that breaks the response schema, and tool calls whose arguments break their tool's parameters are rejected
 * as retryable, as in Curator. With several choices (`n`), every choice must pass.
 */
import type { RequestError } from '../providers/outcome';
import { choicesOf, type ProviderAnswer, type ProviderChoice, type ProviderToolCall } from '../providers/types';
import { resolveResponseFormat, type ResponseFormat } from '../schema';
import type { Curator } from '../curator';
import type { AttemptRecord, RecordedChoice } from '../storage/response-log';
import type { ToolCall } from '../types/answer';
import { DEFAULT_INVALID_FINISH_REASONS } from '../defaults';

/** An accepted answer: its first choice's value and tool calls (when it has some), and the other choices. */
export type Accepted = { ok: true; value: unknown; toolCalls?: ToolCall[]; moreChoices?: RecordedChoice[] };

type Rejected = { ok: false; error: RequestError };

/** The curator's tools by name, each with the validator of its arguments. */
export type ToolFormats = ReadonlyMap<string, ResponseFormat>;

function rejected(type: RequestError['type'], message: string): Rejected {
  return { ok: false, error: { type, message, retryable: true } };
}

/** A tool call's arguments, parsed from JSON and checked against its tool's parameters. */
function acceptToolCall(call: ProviderToolCall, tools: ToolFormats | undefined): ToolCall | Rejected {
  const format = tools?.get(call.name);
  if (!format) return rejected('SchemaMismatch', `the model called '${call.name}', which is not one of the tools`);
  let args = call.input;
  if (args === undefined) {
    try {
      args = JSON.parse(call.arguments ?? '');
    } catch (err) {
      return rejected('InvalidJson', `tool call '${call.name}': arguments are not JSON: ${(err as Error).message}`);
    }
  }
  const checked = format.validate(args);
  if (!checked.ok) {
    return rejected('SchemaMismatch', `tool call '${call.name}' breaks the tool's parameters: ${checked.error}`);
  }
  return { id: call.id, name: call.name, arguments: checked.value };
}

function acceptChoice(
  answer: ProviderChoice,
  format: ResponseFormat | undefined,
  invalidFinishReasons: readonly string[],
  tools: ToolFormats | undefined
): { ok: true; value: unknown; toolCalls?: ToolCall[] } | Rejected {
  if (answer.refusal) return rejected('Refusal', `the model refused: ${answer.refusal}`);
  if (invalidFinishReasons.includes(answer.finishReason)) {
    return rejected('InvalidFinishReason', `finish reason '${answer.rawFinishReason}' is in invalidFinishReasons`);
  }
  const toolCalls: ToolCall[] = [];
  for (const call of answer.toolCalls ?? []) {
    const checked = acceptToolCall(call, tools);
    if ('ok' in checked) return checked;
    toolCalls.push(checked);
  }
  const calls = toolCalls.length > 0 ? { toolCalls } : {};
  // An answer made of tool calls only has no text: the calls are the answer.
  if (answer.text === null && answer.object === undefined && toolCalls.length > 0)
    return { ok: true, value: null, ...calls };
  if (!format) {
    if (answer.text === null) return rejected('EmptyResponse', 'no content');
    return { ok: true, value: answer.text, ...calls };
  }
  let value = answer.object;
  if (value === undefined) {
    if (answer.text === null) return rejected('EmptyResponse', 'no content');
    try {
      value = JSON.parse(answer.text);
    } catch (err) {
      return rejected('InvalidJson', `structured output is not JSON: ${(err as Error).message}`);
    }
  }
  const checked = format.validate(value);
  if (!checked.ok) return rejected('SchemaMismatch', `output breaks the response schema: ${checked.error}`);
  return { ok: true, value: checked.value, ...calls };
}

export function acceptAnswer(
  answer: Omit<ProviderAnswer, 'headers'>,
  format: ResponseFormat | undefined,
  invalidFinishReasons: readonly string[],
  tools?: ToolFormats
): Accepted | Rejected {
  const choices = choicesOf(answer);
  const accepted: { value: unknown; toolCalls?: ToolCall[] }[] = [];
  for (const [k, choice] of choices.entries()) {
    const result = acceptChoice(choice, format, invalidFinishReasons, tools);
    if (!result.ok) {
      if (choices.length > 1) result.error.message = `choice ${k} of ${choices.length}: ${result.error.message}`;
      return result;
    }
    accepted.push(result);
  }
  const [first, ...more] = accepted;
  const result: Accepted = { ok: true, value: first!.value };
  if (first!.toolCalls) result.toolCalls = first!.toolCalls;
  if (more.length > 0) {
    result.moreChoices = more.map(({ value, toolCalls }, k) => ({
      value,
      finish: choices[k + 1]!.rawFinishReason,
      ...(toolCalls ? { toolCalls } : {}),
      ...(choices[k + 1]!.thinking !== undefined ? { thinking: choices[k + 1]!.thinking } : {}),
    }));
  }
  return result;
}

/** The fields of an attempt record for an answer, accepted or rejected. */
export type AnswerFields = Pick<
  AttemptRecord,
  'ok' | 'value' | 'toolCalls' | 'moreChoices' | 'raw' | 'error' | 'finish' | 'thinking' | 'usage' | 'requestId'
>;

/** The validators of a curator's tools' arguments, by tool name. */
export function toolFormats(curator: Curator): ToolFormats | undefined {
  if (!curator.tools) return undefined;
  return new Map(curator.tools.map((tool) => [tool.name, resolveResponseFormat(tool.parameters)!]));
}

/**
 * The curator's acceptance test, ready to apply to each answer of a shard: the same for an answer of a call of its
 * own and for a result of a provider batch.
 */
export function answerAcceptor(curator: Curator): (answer: Omit<ProviderAnswer, 'headers'>) => AnswerFields {
  const format = resolveResponseFormat(curator.responseFormat);
  const invalidFinishReasons = curator.backend?.invalidFinishReasons ?? DEFAULT_INVALID_FINISH_REASONS;
  const tools = toolFormats(curator);
  const keepRaw = curator.includeRawAnswer === true;
  return (answer) => {
    const accepted = acceptAnswer(answer, format, invalidFinishReasons, tools);
    const shared = {
      finish: answer.rawFinishReason,
      ...(answer.thinking !== undefined ? { thinking: answer.thinking } : {}),
      usage: answer.usage,
      requestId: answer.requestId,
    };
    if (!accepted.ok) return { ...shared, ok: false, error: accepted.error };
    const { ok: _ok, ...fields } = accepted;
    return { ...shared, ok: true, ...fields, ...(keepRaw && answer.raw !== undefined ? { raw: answer.raw } : {}) };
  };
}
