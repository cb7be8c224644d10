/** Curators the benchmarks run: tiny prompts, text answers, limits left to the provider's headers. */
import { defineCurator } from '../src';

export const benchText = defineCurator({
  name: 'bench-text',
  model: 'gpt-4o-mini',
  prompt: (row: { id: number }) => `Say something short about the number ${row.id}.`,
  parse: (row: { id: number }, text: string) => ({ id: row.id, text }),
});

export default [benchText];
