/**
 * A row's own generation params: read from the row (a function of it, or one of its fields), checked, and merged
 * over the curator's. Part of the format stage, so the synchronous and the Batch-API paths send the same body.
 */
import { requestParams, withoutUnset, type Curator, type Row } from '../curator';
import { PromptError } from '../errors';

/** Keys the request itself sets: a row cannot replace the model or the conversation through its params. */
const RESERVED = new Set(['model', 'messages']);

/** Why `value` cannot travel in a JSON request body, or undefined when it can. */
function notJson(value: unknown, path: string): string | undefined {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return undefined;
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : `${path} is ${value}, not a JSON number`;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const why = notJson(value[i], `${path}[${i}]`);
      if (why) return why;
    }
    return undefined;
  }
  if (typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined) continue;
      const why = notJson(v, `${path}.${k}`);
      if (why) return why;
    }
    return undefined;
  }
  return `${path} is a ${typeof value}, not a JSON value`;
}

/** The row's own params as the curator declares them (function or field); undefined when it declares none. */
function rowParamsOf(curator: Curator, row: Row): unknown {
  const source = curator.rowGenerationParams;
  if (source === undefined) return undefined;
  if (typeof source === 'string') return row[source];
  try {
    return (source as (row: Row) => unknown)(row);
  } catch (err) {
    throw new PromptError(`rowGenerationParams() threw: ${(err as Error)?.message ?? String(err)}`);
  }
}

/**
 * The generation params of one row's request: the curator's, with the row's merged over them (a key set to null or
 * undefined by the row is dropped).
 *
 * @throws PromptError when the row's params are not an object of JSON values, or set `model` or `messages`.
 */
export function paramsForRow(curator: Curator, row: Row): Record<string, unknown> {
  const base = requestParams(curator);
  const own = rowParamsOf(curator, row);
  if (own === undefined || own === null) return base;
  const where =
    typeof curator.rowGenerationParams === 'string'
      ? `the field '${curator.rowGenerationParams}'`
      : 'rowGenerationParams()';
  if (typeof own !== 'object' || Array.isArray(own)) {
    const got = Array.isArray(own) ? 'an array' : `a ${typeof own}`;
    throw new PromptError(`generation params from ${where} must be an object, got ${got}`);
  }
  for (const key of Object.keys(own)) {
    if (RESERVED.has(key)) throw new PromptError(`generation params from ${where} may not set '${key}'`);
  }
  const why = notJson(own, 'params');
  if (why) throw new PromptError(`generation params from ${where}: ${why}`);
  return withoutUnset({ ...base, ...(own as Record<string, unknown>) });
}
