/**
 * OpenAI `logprobs`: one entry per token of the answer, with `top_logprobs` alternatives. The simulator's tokens are
 * its billing unit (four characters, see `tokens.ts`), so the entries add up to `completion_tokens` of the text.
 */
import { Rng } from './answers';

/** One token's entry, as in `choices[].logprobs.content[]`. */
interface TokenLogprob {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: { token: string; logprob: number; bytes: number[] }[];
}

const ALTERNATIVES = [' the', ' a', ' and', ' of', ',', '.', ' to', ' in', ' is', ' it', ' on', ' as', ' at', ' by'];

/** The text's pieces of four characters (one per billed token). */
export function tokenPieces(text: string): string[] {
  const pieces: string[] = [];
  for (let at = 0; at < text.length; at += 4) pieces.push(text.slice(at, at + 4));
  return pieces;
}

/**
 * `choices[].logprobs` of a text answer: each token's log probability in (-3, 0], drawn from `seedParts`, and
 * `top` alternatives in decreasing order whose first is the token itself.
 */
export function logprobsOf(text: string, top: number, seedParts: string[]): { content: TokenLogprob[]; refusal: null } {
  const rng = new Rng(...seedParts, 'logprobs');
  const bytes = (token: string): number[] => [...Buffer.from(token, 'utf8')];
  const content = tokenPieces(text).map((token) => {
    const logprob = -Math.round(rng.next() * 3_000_000) / 1_000_000;
    const alternatives: TokenLogprob['top_logprobs'] = [];
    let next = logprob;
    for (let k = 0; k < top; k++) {
      const candidate = k === 0 ? token : (ALTERNATIVES[(k - 1) % ALTERNATIVES.length] as string) + (k > 14 ? k : '');
      alternatives.push({ token: candidate, logprob: next, bytes: bytes(candidate) });
      next = Math.round((next - 0.5 - rng.next() * 2) * 1_000_000) / 1_000_000;
    }
    return { token, logprob, bytes: bytes(token), top_logprobs: alternatives };
  });
  return { content, refusal: null };
}
