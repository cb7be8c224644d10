/**
 * Response formats: a curator may give a zod schema or a plain JSON Schema. Providers need JSON Schema; validation of
 * the model's output needs a validator. This module turns either form into both.
 */
import Ajv2020 from 'ajv/dist/2020';
import Ajv from 'ajv';
import type { ZodLike } from './curator';

/** A JSON Schema document (draft 7 or 2020-12). */
export type JsonSchema = { [key: string]: unknown };

export interface ResponseFormat {
  /** The JSON Schema sent to the provider, without `$schema` (OpenAI and Anthropic reject or ignore it). */
  jsonSchema: JsonSchema;
  /** Validates one parsed answer; returns the value to hand to `parse`, or an error message. */
  validate(value: unknown): { ok: true; value: unknown } | { ok: false; error: string };
}

function isZodLike(value: unknown): value is ZodLike & { _zod?: unknown } {
  return !!value && typeof (value as ZodLike).safeParse === 'function';
}

function zodToJsonSchema(schema: unknown): JsonSchema {
  // zod is an optional peer: only users who pass a zod schema have it, so it is required lazily.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const z = require('zod') as { toJSONSchema?: (s: unknown) => JsonSchema };
  if (typeof z.toJSONSchema !== 'function') {
    throw new TypeError('responseFormat is a zod schema but the installed zod has no toJSONSchema (zod >= 4 needed)');
  }
  return z.toJSONSchema(schema);
}

const validators = new WeakMap<object, ResponseFormat>();

/** Resolves a curator's `responseFormat` once; later calls with the same object reuse the compiled validator. */
export function resolveResponseFormat(format: ZodLike | JsonSchema | undefined): ResponseFormat | undefined {
  if (format === undefined || format === null) return undefined;
  const cached = validators.get(format);
  if (cached) return cached;
  let resolved: ResponseFormat;
  if (isZodLike(format)) {
    const { $schema: _ignored, ...jsonSchema } = zodToJsonSchema(format);
    resolved = {
      jsonSchema,
      validate(value) {
        const result = format.safeParse(value);
        return result.success ? { ok: true, value: result.data } : { ok: false, error: result.error.message };
      },
    };
  } else if (typeof format === 'object') {
    const { $schema, ...jsonSchema } = format as JsonSchema;
    const ajv =
      typeof $schema === 'string' && $schema.includes('2020-12')
        ? new Ajv2020({ allErrors: true, strict: false })
        : new Ajv({ allErrors: true, strict: false });
    const check = ajv.compile(format as JsonSchema);
    resolved = {
      jsonSchema,
      validate(value) {
        if (check(value)) return { ok: true, value };
        return { ok: false, error: ajv.errorsText(check.errors, { dataVar: 'response' }) };
      },
    };
  } else {
    throw new TypeError('responseFormat must be a zod schema or a JSON Schema object');
  }
  validators.set(format, resolved);
  return resolved;
}
