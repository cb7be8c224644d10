/**
 * Row types as users write them: an `interface` is a row type (it has no index signature, so it is not a `Row`),
 * while primitives, arrays and functions are refused where the curator is defined. `npm run typecheck` compiles this
 * file: an `@ts-expect-error` that no longer meets an error fails it, as does an interface refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defineCurator, type Curator } from '../../src/curator';
import { createWorker } from '../../src/worker';

interface Review {
  id: number;
  text: string;
}

interface Verdict {
  id: number;
  positive: boolean;
}

const usage = { input: 1, output: 1 };

test('a curator whose input and output rows are interfaces', () => {
  const verdicts = defineCurator({
    name: 'verdicts',
    model: 'gpt-4o-mini',
    prompt: (row: Review) => `Is this review positive? ${row.text}`,
    parse: (row, answer: string): Verdict => ({ id: row.id, positive: /yes/i.test(answer) }),
  });
  const typed: Curator<Review, Verdict, string> = verdicts;
  // What the worker registers: a curator of interfaces is accepted there too.
  const forWorker: Parameters<typeof createWorker>[0]['curators'] = [verdicts];
  assert.ok(forWorker);
  assert.equal(typed.prompt({ id: 1, text: 'great' }), 'Is this review positive? great');
  const answer = { choices: [{ index: 0, value: 'Yes', text: 'Yes', toolCalls: [], finishReason: 'stop' }], usage };
  assert.deepEqual(typed.parse?.({ id: 1, text: 'great' }, 'Yes', answer), { id: 1, positive: true });
});

test('rows that are not objects are refused at compile time, and interfaces still check their fields', () => {
  const base = { name: 'wrong', model: 'gpt-4o-mini' };
  // @ts-expect-error a row is an object, not a string
  defineCurator({ ...base, prompt: (row: string) => row });
  // @ts-expect-error a row is an object, not an array
  defineCurator({ ...base, prompt: (row: string[]) => row.join(' ') });
  // @ts-expect-error a row is an object, not a function
  defineCurator({ ...base, prompt: (row: () => string) => row() });
  // @ts-expect-error parse returns rows, not arrays of cells
  defineCurator({ ...base, prompt: (row: Review) => row.text, parse: (row, answer: string) => [[row.id, answer]] });
  defineCurator({
    ...base,
    prompt: (row: Review) => row.text,
    // @ts-expect-error the declared output interface is checked field by field
    parse: (row, answer: string): Verdict => ({ id: String(row.id), positive: answer === 'yes' }),
  });
  // @ts-expect-error the input interface is checked too: Review has no `topic`
  defineCurator({ ...base, prompt: (row: Review) => row.topic });
});
