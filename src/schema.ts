/**
 * Response formats: a curator may give a zod schema or a plain JSON Schema. Providers need JSON Schema; validation of
 * the model's output needs a validator. This module turns either form into both.
 */
import Ajv2020 from 'ajv/dist/2020';
import Ajv from 'ajv';
import type { JsonSchema, ZodLike } from './types/schema';
import { isZod3Schema, zod3ToJsonSchema } from './zod3';

export type { JsonSchema };

export interface ResponseFormat {
  /** The JSON Schema sent to the provider, without `$schema` (OpenAI and Anthropic reject or ignore it). */
  jsonSchema: JsonSchema;
  /** Validates one parsed answer; returns the value to hand to `parse`, or an error message. */
  validate(value: unknown): { ok: true; value: unknown } | { ok: false; error: string };
}

function isZodLike(value: unknown): value is ZodLike & { _zod?: unknown } {
  return !!value && typeof (value as ZodLike).safeParse === 'function';
}

type ToJsonSchema = (schema: unknown) => JsonSchema;

/** The version of the zod the user's project resolves, for error messages. */
function installedZodVersion(): string {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require(require.resolve('zod/package.json', { paths: [process.cwd(), __dirname] })) as { version: string })
      .version;
  } catch {
    return 'unknown';
  }
}

/** zod's own converter, from the user's zod: zod is an optional peer, so only users of zod schemas have it. */
function zodCoreToJsonSchema(): ToJsonSchema | undefined {
  for (const id of ['zod/v4/core', 'zod']) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const mod = require(require.resolve(id, { paths: [process.cwd(), __dirname] })) as { toJSONSchema?: unknown };
      if (typeof mod.toJSONSchema === 'function') return mod.toJSONSchema as ToJsonSchema;
    } catch {
      // Not this entry point (zod < 3.25 has neither), try the next.
    }
  }
  return undefined;
}

/**
 * Converts a zod schema with zod's own converter for zod 4 (zod 4, or `zod/v4` of zod 3.25+), and by reading its
 * definition for zod 3, which has no converter.
 */
function zodToJsonSchema(schema: ZodLike & { _zod?: unknown; toJSONSchema?: unknown }): JsonSchema {
  if (isZod3Schema(schema)) return zod3ToJsonSchema(schema);
  if (typeof schema.toJSONSchema === 'function') return (schema.toJSONSchema as () => JsonSchema)();
  const convert = zodCoreToJsonSchema();
  if (!convert) {
    throw new TypeError(
      `responseFormat is a zod schema, but no zod with toJSONSchema was found (the installed zod is ` +
        `${installedZodVersion()}). Install zod 4 (\`npm install zod@^4\`) or pass a JSON Schema object.`
    );
  }
  return convert(schema);
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
