/**
 * The three steps of the question → answer → judge pipeline. Each is an ordinary curator; `workflows.ts` chains them
 * by name, each reading the dataset the previous one wrote.
 */
import { z } from 'zod';
import { defineCurator } from 'temporal-curator';

/** Questions asked per subject: the first step fans out to this many rows per input row. */
export const QUESTIONS_PER_SUBJECT = 3;

/**
 * Judged answers scoring below this are dropped. It lives in the judge's `parse` because workflows only name a
 * curator: a threshold passed through the workflow could not reach the function. `parse` is outside the run
 * fingerprint, so changing it re-filters the cached judgments with zero API calls.
 */
export const MIN_SCORE = 6;

export type SubjectRow = { subject: string };
export type QuestionRow = SubjectRow & { question: string };
export type AnswerRow = QuestionRow & { answer: string };
export type JudgedRow = AnswerRow & { score: number; verdict: string };

const Questions = z.object({ questions: z.array(z.string()).length(QUESTIONS_PER_SUBJECT) });
const Judgment = z.object({ score: z.number().int().min(1).max(10), verdict: z.string() });

/** Subject → three questions, one output row per question. */
export const questions = defineCurator({
  name: 'questions',
  model: 'gpt-4o-mini',
  systemPrompt: 'You write exam questions that have one clear, factual answer.',
  prompt: (row: SubjectRow) =>
    `Write ${QUESTIONS_PER_SUBJECT} distinct questions a curious student might ask about ${row.subject}.`,
  responseFormat: Questions,
  parse: (row, answer: z.infer<typeof Questions>): QuestionRow[] =>
    answer.questions.map((question) => ({ subject: row.subject, question })),
  generationParams: { temperature: 0.8 },
});

/** Question → a short text answer. */
export const answers = defineCurator({
  name: 'answers',
  model: 'gpt-4o-mini',
  systemPrompt: 'Answer accurately in at most three sentences.',
  prompt: (row: QuestionRow) => `Subject: ${row.subject}\nQuestion: ${row.question}`,
  parse: (row, answer: string): AnswerRow => ({ subject: row.subject, question: row.question, answer }),
  generationParams: { temperature: 0.2 },
});

/** Question and answer → a score from 1 to 10; only answers scoring at least `MIN_SCORE` are kept. */
export const judge = defineCurator({
  name: 'judge',
  model: 'gpt-4o-mini',
  systemPrompt: 'You grade answers for correctness and clarity, strictly.',
  prompt: (row: AnswerRow) =>
    `Subject: ${row.subject}\nQuestion: ${row.question}\nAnswer: ${row.answer}\n\n` +
    'Score the answer from 1 (wrong or useless) to 10 (correct, clear and complete), with a one-sentence verdict.',
  responseFormat: Judgment,
  // An empty array records the request as done with no output row: the filter.
  parse: (row, judgment: z.infer<typeof Judgment>): JudgedRow[] =>
    judgment.score >= MIN_SCORE
      ? [{ subject: row.subject, question: row.question, answer: row.answer, ...judgment }]
      : [],
  generationParams: { temperature: 0 },
});

export const curators = [questions, answers, judge];
export default curators;
