/**
 * The answer `parse` receives, read from an accepted attempt of the response log: what parses a cached run needs
 * is all in the log, so re-parsing makes no call.
 */
import type { Answer, AnswerChoice } from '../types/answer';
import type { AttemptRecord, RecordedChoice } from '../storage/response-log';

function choiceView(choice: RecordedChoice, index: number): AnswerChoice {
  return {
    index,
    value: choice.value,
    // A structured answer's text is its object's JSON: the object is the answer, so no text is kept beside it.
    text: typeof choice.value === 'string' ? choice.value : null,
    toolCalls: choice.toolCalls ?? [],
    finishReason: choice.finish,
    ...(choice.thinking !== undefined ? { thinking: choice.thinking } : {}),
  };
}

/** The typed view of an accepted attempt: its choices, usage, request id, and raw body when recorded. */
export function answerView(record: Partial<AttemptRecord>): Answer {
  const first: RecordedChoice = {
    value: record.value,
    finish: record.finish ?? 'stop',
    toolCalls: record.toolCalls,
    thinking: record.thinking,
  };
  const answer: Answer = {
    choices: [first, ...(record.moreChoices ?? [])].map(choiceView),
    usage: record.usage ?? { input: 0, output: 0 },
  };
  if (record.thinking !== undefined) answer.thinking = record.thinking;
  if (record.requestId !== undefined) answer.requestId = record.requestId;
  if (record.raw !== undefined) answer.raw = record.raw;
  return answer;
}
