/**
 * The benchmarks' curators, made by either build of the library: the sources (`curators.ts`, for workers run from
 * this checkout) or the compiled package (`lib/compiled-worker.ts`, for workers run as users run them). Tiny prompts,
 * text answers, limits left to the provider's headers.
 */
import type { defineCurator } from '../src';

export function benchCurators(define: typeof defineCurator) {
  return {
    benchText: define({
      name: 'bench-text',
      model: 'gpt-4o-mini',
      prompt: (row: { id: number }) => `Say something short about the number ${row.id}.`,
      parse: (row: { id: number }, text: string) => ({ id: row.id, text }),
    }),
    /** The same curator on the Anthropic Messages API (the field scenario's Anthropic cases). */
    benchTextClaude: define({
      name: 'bench-text-claude',
      model: 'claude-haiku-4-5',
      prompt: (row: { id: number }) => `Say something short about the number ${row.id}.`,
      parse: (row: { id: number }, text: string) => ({ id: row.id, text }),
    }),
  };
}
