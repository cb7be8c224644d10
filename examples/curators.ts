/**
 * Example curators, used by the quick start, the docker-compose worker and the tests.
 */
import { z } from 'zod';
import { defineCurator } from 'temporal-curator';

const Poem = z.object({
  title: z.string(),
  poem: z.string(),
  mood: z.enum(['joyful', 'melancholic', 'calm', 'stormy']),
});

/** Structured output through OpenAI: one poem per topic. */
export const poems = defineCurator({
  name: 'poems',
  model: 'gpt-4o-mini',
  prompt: (row: { topic: string }) => `Write a short poem about ${row.topic}.`,
  responseFormat: Poem,
  parse: (row, poem: z.infer<typeof Poem>) => ({
    topic: row.topic,
    title: poem.title,
    poem: poem.poem,
    mood: poem.mood,
  }),
  generationParams: { temperature: 0.7 },
});

/** Plain text through Anthropic: a one-line summary per topic. */
export const haiku = defineCurator({
  name: 'haiku',
  model: 'claude-3-5-haiku-latest',
  systemPrompt: 'You are a poet who answers with a single haiku.',
  prompt: (row: { topic: string }) => `A haiku about ${row.topic}, please.`,
  parse: (row, text: string) => ({ topic: row.topic, haiku: text }),
  generationParams: { max_tokens: 200 },
});

export const curators = [poems, haiku];
export default curators;
