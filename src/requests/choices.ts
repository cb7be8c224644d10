/**
 * The choices of a request that asks for several (`n`) when the provider answers each in a call of its own
 * (Anthropic): a retry asks only for the choices still missing, and its answer is completed with those answered
 * before, read from the response log. So each choice is paid once, as each of n requests would be.
 */
import { choicesOf, type ProviderAnswer, type ProviderChoice, type ProviderRequest } from '../providers/types';
import type { AnsweredChoices, AttemptRecord } from '../storage/response-log';

type Answer = Omit<ProviderAnswer, 'headers'>;

const rawList = (raw: unknown): unknown[] => (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]);

/** A choice's own fields (those set), without the answer's (usage, raw body, headers) around the first one. */
function choiceFields({
  text,
  object,
  toolCalls,
  finishReason,
  rawFinishReason,
  refusal,
}: ProviderChoice): ProviderChoice {
  const fields = { text, object, toolCalls, finishReason, rawFinishReason, refusal };
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as unknown as ProviderChoice;
}

/** An answer's choices, each with only its own fields. */
const ownChoices = (answer: Answer): ProviderChoice[] => choicesOf(answer).map(choiceFields);

/** The request as a retry sends it: asking only for the choices not yet answered. */
export function stillToAsk(request: ProviderRequest, answered: AnsweredChoices | undefined): ProviderRequest {
  const n = request.params.n;
  if (!answered?.choices.length || typeof n !== 'number') return request;
  return { ...request, params: { ...request.params, n: n - answered.choices.length } };
}

/** The answer with the choices answered before it in front: the whole answer, as one call of `n` would give it. */
export function completeAnswer<A extends Answer>(answer: A, answered: AnsweredChoices | undefined): A {
  if (!answered?.choices.length) return answer;
  const choices = [...(answered.choices as ProviderChoice[]), ...ownChoices(answer)];
  return { ...answer, ...choices[0], choices, raw: [...answered.raw, ...rawList(answer.raw)] };
}

/**
 * What a failed attempt records of a request's choices: those answered before and by this attempt (the calls that
 * succeeded beside the one that failed), and the tokens this attempt paid for them.
 */
export function answeredFields(
  answered: AnsweredChoices | undefined,
  partial: Answer | undefined
): Pick<AttemptRecord, 'answered' | 'usage'> {
  if (!partial) return {};
  const whole = completeAnswer(partial, answered);
  return { answered: { choices: ownChoices(whole), raw: rawList(whole.raw) }, usage: partial.usage };
}
