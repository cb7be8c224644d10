/**
 * Parsing one line of a user's JSON Lines dataset, where JSON's numbers and nesting can exceed what JavaScript keeps:
 *
 * - An integer beyond 2^53 (`9007199254740993`), or a number beyond double range (`1e400`), would be silently changed
 *   by `JSON.parse` (to `...992`, to `Infinity` and then `null`). Such a number is kept exactly, as the decimal string
 *   it was written as: every digit survives into the prompt and the dataset (as a string column).
 * - Nesting deeper than {@link MAX_INPUT_DEPTH} is refused with the line's number: no dataset needs it, and the
 *   recursive steps after parsing (fingerprints, Arrow) would overflow the stack on it.
 * - A UTF-8 byte order mark at the start of the file is not part of the first row.
 */
import { InputLineError } from '../errors';

/** The deepest nesting of arrays and objects accepted in an input row. */
export const MAX_INPUT_DEPTH = 100;

const isDigit = (c: number) => c >= 48 && c <= 57;

/** Whether the number written as `token` would not come back from `JSON.parse` as the same number. */
function inexact(token: string): boolean {
  const value = Number(token);
  if (!Number.isFinite(value)) return true;
  return /^-?\d+$/.test(token) && !Number.isSafeInteger(value);
}

/**
 * Parses one input line as JSON. Numbers that JavaScript cannot hold exactly become their decimal strings;
 * `InputLineError` for nesting beyond {@link MAX_INPUT_DEPTH}; `SyntaxError` as `JSON.parse` for invalid JSON.
 */
export function parseInputLine(text: string): unknown {
  let depth = 0;
  let inString = false;
  let quoted: [number, number][] | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92)
        i++; // backslash: the next character is escaped
      else if (c === 34) inString = false;
      continue;
    }
    if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > MAX_INPUT_DEPTH) {
        throw new InputLineError(`nesting deeper than ${MAX_INPUT_DEPTH} levels of arrays and objects`);
      }
    } else if (c === 125 || c === 93) depth--;
    else if (c === 45 || isDigit(c)) {
      let end = i + 1;
      while (end < text.length && /[0-9eE.+-]/.test(text[end])) end++;
      if (inexact(text.slice(i, end))) (quoted ??= []).push([i, end]);
      i = end - 1;
    }
  }
  if (!quoted) return JSON.parse(text);
  let out = '';
  let from = 0;
  for (const [start, end] of quoted) {
    out += `${text.slice(from, start)}"${text.slice(start, end)}"`;
    from = end;
  }
  return JSON.parse(out + text.slice(from));
}

/** Drops a UTF-8 byte order mark, which editors on Windows put at the start of a file. */
export function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}
