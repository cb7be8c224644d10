/** Stage 4 of a request's life: an accepted answer becomes 0..n output rows through the curator's `parse`. */
import type { Curator, Row } from '../curator';
import { ParseError } from '../errors';

function isPlainObject(value: unknown): value is Row {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return `a ${(value as object).constructor?.name ?? 'non-plain object'}`;
  return typeof value;
}

/** The default parse: the object of a structured answer, or `{ response }` for text. */
function defaultParse(value: unknown): Row {
  return isPlainObject(value) ? value : { response: value };
}

export function parseRows(curator: Curator, row: Row, value: unknown): Row[] {
  let result: unknown;
  try {
    result = curator.parse ? curator.parse(row as never, value as never) : defaultParse(value);
  } catch (err) {
    throw new ParseError(`parse() threw: ${(err as Error)?.message ?? String(err)}`);
  }
  if (result instanceof Promise || typeof (result as { then?: unknown })?.then === 'function') {
    throw new ParseError('parse() returned a Promise: parse must be synchronous');
  }
  if (result === null || result === undefined) return [];
  const rows = Array.isArray(result) ? result : [result];
  rows.forEach((r, i) => {
    if (!isPlainObject(r)) {
      throw new ParseError(`parse() must return plain objects; item ${i} is ${describe(r)}`);
    }
  });
  return rows as Row[];
}
