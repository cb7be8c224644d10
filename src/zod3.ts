/**
 * JSON Schema for a zod 3 schema. zod 3 has no converter of its own, and zod is the user's (an optional peer), so
 * the schema's definition (`_def`) is read as zod 3 leaves it. Only the provider sees this JSON Schema, as guidance;
 * the model's answer is still validated by the zod schema's own `safeParse`. A part with no JSON form (dates,
 * functions, recursion through `z.lazy`) gets an error that names it and says what to do instead.
 */
import type { JsonSchema } from './types/schema';

interface Zod3Def {
  typeName?: string;
  description?: string;
  [key: string]: unknown;
}

interface Zod3Check {
  kind: string;
  value?: number;
  inclusive?: boolean;
  regex?: RegExp;
}

/** True for a zod 3 schema: a `_def` with a zod 3 type name, and none of zod 4's `_zod` internals. */
export function isZod3Schema(value: unknown): boolean {
  const v = value as { _def?: Zod3Def; _zod?: unknown } | null;
  return !!v && v._zod === undefined && typeof v._def?.typeName === 'string' && v._def.typeName.startsWith('Zod');
}

const defOf = (schema: unknown): Zod3Def => (schema as { _def: Zod3Def })._def;

/** Wrappers that say nothing a JSON Schema can carry beyond what they wrap. */
const INNER: Record<string, (def: Zod3Def) => unknown> = {
  ZodEffects: (def) => def.schema,
  ZodBranded: (def) => def.type,
  ZodReadonly: (def) => def.innerType,
  ZodCatch: (def) => def.innerType,
  ZodPipeline: (def) => def.out,
};

function stringSchema(def: Zod3Def): JsonSchema {
  const out: JsonSchema = { type: 'string' };
  for (const check of (def.checks ?? []) as Zod3Check[]) {
    if (check.kind === 'min') out.minLength = check.value;
    else if (check.kind === 'max') out.maxLength = check.value;
    else if (check.kind === 'length') out.minLength = out.maxLength = check.value;
    else if (check.kind === 'email') out.format = 'email';
    else if (check.kind === 'url') out.format = 'uri';
    else if (check.kind === 'uuid') out.format = 'uuid';
    else if (check.kind === 'datetime') out.format = 'date-time';
    else if (check.kind === 'date') out.format = 'date';
    else if (check.kind === 'regex' && check.regex) out.pattern = check.regex.source;
  }
  return out;
}

function numberSchema(def: Zod3Def): JsonSchema {
  const out: JsonSchema = { type: 'number' };
  for (const check of (def.checks ?? []) as Zod3Check[]) {
    if (check.kind === 'int') out.type = 'integer';
    else if (check.kind === 'min') out[check.inclusive ? 'minimum' : 'exclusiveMinimum'] = check.value;
    else if (check.kind === 'max') out[check.inclusive ? 'maximum' : 'exclusiveMaximum'] = check.value;
    else if (check.kind === 'multipleOf') out.multipleOf = check.value;
  }
  return out;
}

function objectSchema(def: Zod3Def, path: string): JsonSchema {
  const shape = (def.shape as () => Record<string, unknown>)();
  const properties: Record<string, JsonSchema> = {};
  const required: string[] = [];
  for (const [key, value] of Object.entries(shape)) {
    properties[key] = convert(value, `${path}.${key}`);
    const optional = (value as { isOptional?: () => boolean }).isOptional?.() ?? false;
    if (!optional) required.push(key);
  }
  const out: JsonSchema = { type: 'object', properties, required };
  const catchall = def.catchall as { _def?: Zod3Def } | undefined;
  if (catchall?._def && catchall._def.typeName !== 'ZodNever') {
    out.additionalProperties = convert(catchall, `${path}.*`);
  } else if (def.unknownKeys !== 'passthrough') {
    out.additionalProperties = false;
  }
  return out;
}

function convert(schema: unknown, path: string): JsonSchema {
  const def = defOf(schema);
  const typeName = def.typeName ?? '';
  const inner = INNER[typeName];
  if (inner) return convert(inner(def), path);
  const out = convertOwn(def, typeName, path);
  if (def.description !== undefined) out.description = def.description;
  return out;
}

function convertOwn(def: Zod3Def, typeName: string, path: string): JsonSchema {
  switch (typeName) {
    case 'ZodString':
      return stringSchema(def);
    case 'ZodNumber':
      return numberSchema(def);
    case 'ZodBigInt':
      return { type: 'integer' };
    case 'ZodBoolean':
      return { type: 'boolean' };
    case 'ZodNull':
      return { type: 'null' };
    case 'ZodAny':
    case 'ZodUnknown':
      return {};
    case 'ZodLiteral':
      return { const: def.value };
    case 'ZodEnum':
      return { type: 'string', enum: def.values };
    case 'ZodNativeEnum': {
      // A numeric TypeScript enum maps each value back to its name too: keep only the values.
      const values = Object.entries(def.values as Record<string, string | number>)
        .filter(([key]) => Number.isNaN(Number(key)))
        .map(([, value]) => value);
      return { enum: [...new Set(values)] };
    }
    case 'ZodObject':
      return objectSchema(def, path);
    case 'ZodArray': {
      const out: JsonSchema = { type: 'array', items: convert(def.type, `${path}[]`) };
      const length = (key: string) => (def[key] as { value: number } | null)?.value;
      if (length('exactLength') !== undefined) out.minItems = out.maxItems = length('exactLength');
      if (length('minLength') !== undefined) out.minItems = length('minLength');
      if (length('maxLength') !== undefined) out.maxItems = length('maxLength');
      return out;
    }
    case 'ZodTuple':
      return {
        type: 'array',
        prefixItems: (def.items as unknown[]).map((item, i) => convert(item, `${path}[${i}]`)),
        minItems: (def.items as unknown[]).length,
        ...(def.rest ? { items: convert(def.rest, `${path}[]`) } : { maxItems: (def.items as unknown[]).length }),
      };
    case 'ZodRecord':
      return { type: 'object', additionalProperties: convert(def.valueType, `${path}.*`) };
    case 'ZodUnion':
    case 'ZodDiscriminatedUnion':
      return { anyOf: [...(def.options as Iterable<unknown>)].map((option) => convert(option, path)) };
    case 'ZodIntersection':
      return { allOf: [convert(def.left, path), convert(def.right, path)] };
    case 'ZodOptional':
      return convert(def.innerType, path);
    case 'ZodNullable':
      return { anyOf: [convert(def.innerType, path), { type: 'null' }] };
    case 'ZodDefault':
      return { ...convert(def.innerType, path), default: (def.defaultValue as () => unknown)() };
    default:
      throw new TypeError(
        `responseFormat${path}: a zod 3 ${typeName || 'schema'} has no JSON Schema form. Use JSON types (strings ` +
          "for dates), or zod 4 (`npm install zod@^4`, or `import * as z from 'zod/v4'` with zod 3.25+), or pass a " +
          'JSON Schema object.'
      );
  }
}

/** The JSON Schema of a zod 3 schema, as zod 4's `toJSONSchema` would describe the same shape. */
export function zod3ToJsonSchema(schema: unknown): JsonSchema {
  return convert(schema, '');
}
