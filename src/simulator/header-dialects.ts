/**
 * The rate-limit header dialects of OpenAI-compatible servers, spoken by the simulator so that the engine's presets
 * (`src/providers/presets.ts`) can be tested offline: the simulator computes OpenAI's per-minute headers, and this
 * rewrites them as the chosen server would send them.
 */

/** The dialects, as the command line lists them. */
export const SIM_HEADER_DIALECTS = ['openai', 'groq', 'together'] as const;

/** How the simulator's OpenAI-compatible answers report rate limits (`rateLimitHeaderDialect` of its options). */
export type SimHeaderDialect = (typeof SIM_HEADER_DIALECTS)[number];

const MINUTES_PER_DAY = 24 * 60;
const RATE_LIMIT = /^x-ratelimit-/;

function scaled(value: string | undefined, factor: number): string | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? String(Math.floor(n * factor)) : undefined;
}

/** `headers` (OpenAI's dialect) rewritten in `dialect`; other headers are kept. */
export function inDialect(dialect: SimHeaderDialect, headers: Record<string, string>): Record<string, string> {
  if (dialect === 'openai') return headers;
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (!RATE_LIMIT.test(name)) out[name] = value;
  const set = (name: string, value: string | undefined) => {
    if (value !== undefined) out[name] = value;
  };
  if (dialect === 'groq') {
    // Groq: the requests headers count a day (a day of this per-minute limit), the tokens headers a minute.
    set('x-ratelimit-limit-requests', scaled(headers['x-ratelimit-limit-requests'], MINUTES_PER_DAY));
    set('x-ratelimit-remaining-requests', scaled(headers['x-ratelimit-remaining-requests'], MINUTES_PER_DAY));
    set('x-ratelimit-reset-requests', headers['x-ratelimit-reset-requests']);
    set('x-ratelimit-limit-tokens', headers['x-ratelimit-limit-tokens']);
    set('x-ratelimit-remaining-tokens', headers['x-ratelimit-remaining-tokens']);
    set('x-ratelimit-reset-tokens', headers['x-ratelimit-reset-tokens']);
    return out;
  }
  // Together: per-second limits, requests in `x-ratelimit-*` (reset in seconds), tokens in `x-tokenlimit-*`.
  set('x-ratelimit-limit', scaled(headers['x-ratelimit-limit-requests'], 1 / 60));
  set('x-ratelimit-remaining', scaled(headers['x-ratelimit-remaining-requests'], 1 / 60));
  set('x-ratelimit-reset', '1');
  set('x-tokenlimit-limit', scaled(headers['x-ratelimit-limit-tokens'], 1 / 60));
  set('x-tokenlimit-remaining', scaled(headers['x-ratelimit-remaining-tokens'], 1 / 60));
  return out;
}
