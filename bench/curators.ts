/** Curators the benchmarks run: tiny prompts, text answers, limits left to the provider's headers. */
import { defineCurator } from '../src';

export const benchText = defineCurator({
  name: 'bench-text',
  model: 'gpt-4o-mini',
  prompt: (row: { id: number }) => `Say something short about the number ${row.id}.`,
  parse: (row: { id: number }, text: string) => ({ id: row.id, text }),
});

/** The same curator on the Anthropic Messages API (the field scenario's Anthropic cases). */
export const benchTextClaude = defineCurator({
  name: 'bench-text-claude',
  model: 'claude-haiku-4-5',
  prompt: (row: { id: number }) => `Say something short about the number ${row.id}.`,
  parse: (row: { id: number }, text: string) => ({ id: row.id, text }),
});

export default [benchText, benchTextClaude];
