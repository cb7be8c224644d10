/**
 * Deterministic answers: the same request always yields the same text or JSON, so tests can compare runs and cache
 * hits. Every answer is drawn from a small PRNG seeded with a SHA-256 of the request.
 */
import { createHash } from 'node:crypto';

/** A seeded PRNG (sfc32): tiny, fast and good enough for picking words. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(...parts: string[]) {
    const digest = createHash('sha256').update(parts.join('\u0000')).digest();
    this.a = digest.readUInt32LE(0);
    this.b = digest.readUInt32LE(4);
    this.c = digest.readUInt32LE(8);
    this.d = digest.readUInt32LE(12);
    // Warm-up decorrelates the first outputs from the raw digest words.
    for (let i = 0; i < 12; i++) this.next();
  }

  /** A float in [0, 1). */
  next(): number {
    this.a >>>= 0;
    this.b >>>= 0;
    this.c >>>= 0;
    this.d >>>= 0;
    let t = (this.a + this.b) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.d = (this.d + 1) | 0;
    t = (t + this.d) | 0;
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** One of `items`, uniformly. */
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T;
  }

  /** `length` random hex digits. */
  hex(length: number): string {
    let out = '';
    while (out.length < length) out += Math.floor(this.next() * 16).toString(16);
    return out;
  }
}

const WORDS: readonly string[] = [
  'alpha amber anchor apple arrow autumn basin beacon birch bright bronze canyon cedar cipher clear',
  'cobalt comet coral crisp delta dune echo ember field flint forest gentle glacier granite harbor',
  'hazel horizon island ivory jasper kernel lantern ledger linen lunar maple marble meadow mesa meteor',
  'mosaic nectar noble north oasis orbit pebble pepper pillar pine prairie quartz quiet raven reef',
  'ridge river saffron sage signal silver slate solar spruce stone summit tandem thistle timber topaz',
  'tundra umber valley velvet vector willow winter yarrow zenith',
]
  .join(' ')
  .split(' ');

/** One to three sentences of five to twelve pseudo-random words. */
export function generateText(rng: Rng): string {
  const sentences: string[] = [];
  const count = rng.int(1, 3);
  for (let s = 0; s < count; s++) {
    const words: string[] = [];
    const length = rng.int(5, 12);
    for (let w = 0; w < length; w++) words.push(rng.pick(WORDS));
    const first = words[0] as string;
    words[0] = first.charAt(0).toUpperCase() + first.slice(1);
    sentences.push(words.join(' ') + '.');
  }
  return sentences.join(' ');
}

/** Sentences of {@link generateText} until the text is `chars` characters long (cut there). */
export function generateTextOfLength(rng: Rng, chars: number): string {
  let text = '';
  while (text.length < chars) text += (text === '' ? '' : ' ') + generateText(rng);
  return text.slice(0, chars);
}

/** A JSON Schema node as found in requests; booleans are valid schemas too. */
type Schema = Record<string, unknown> | boolean;

/** Beyond this depth, recursive schemas get their smallest valid value so generation terminates. */
const MAX_DEPTH = 6;

/**
 * A value that validates against `schema`, drawn deterministically from `rng`.
 *
 * Supported: `type` (also as an array), `properties` (all of them are filled in, required or not), `items`,
 * `prefixItems`, `minItems`/`maxItems`/`uniqueItems`, `enum`, `const`, `anyOf`/`oneOf` (first non-null branch),
 * `allOf` (merged), `$ref` to `#`, `#/$defs/…` and `#/definitions/…`, `minLength`/`maxLength`,
 * `minimum`/`maximum`/`exclusiveMinimum`/`exclusiveMaximum`/`multipleOf`, and common string formats (so zod's format
 * checks pass too). `pattern` is not honoured except through `format`.
 */
export function generateFromSchema(schema: unknown, rng: Rng): unknown {
  const root = isRecord(schema) ? schema : {};
  return new SchemaGenerator(root, rng).value(schema as Schema, 0);
}

class SchemaGenerator {
  constructor(
    private readonly root: Record<string, unknown>,
    private readonly rng: Rng
  ) {}

  value(schema: Schema | undefined, depth: number): unknown {
    if (schema === undefined || schema === true) return this.word();
    if (schema === false) return null;
    const resolved = this.resolve(schema);
    if ('const' in resolved) return resolved.const;
    if (Array.isArray(resolved.enum) && resolved.enum.length > 0) return this.rng.pick(resolved.enum);
    const branches = (resolved.anyOf ?? resolved.oneOf) as Schema[] | undefined;
    if (Array.isArray(branches) && branches.length > 0) {
      const base = omit(resolved, ['anyOf', 'oneOf']);
      return this.value({ ...base, ...asRecord(this.chooseBranch(branches, depth)) }, depth);
    }
    if (Array.isArray(resolved.allOf)) {
      return this.value(
        mergeAll(
          omit(resolved, ['allOf']),
          resolved.allOf.map((s) => this.resolve(s as Schema))
        ),
        depth
      );
    }
    switch (this.typeOf(resolved)) {
      case 'object':
        return this.object(resolved, depth);
      case 'array':
        return this.array(resolved, depth);
      case 'integer':
        return this.number(resolved, true);
      case 'number':
        return this.number(resolved, false);
      case 'boolean':
        return this.rng.next() < 0.5;
      case 'null':
        return null;
      default:
        return this.string(resolved);
    }
  }

  /** Follows `$ref`s (keeping sibling keywords, as 2020-12 allows) until a plain schema is reached. */
  private resolve(schema: Schema): Record<string, unknown> {
    let current = asRecord(schema);
    for (let hops = 0; typeof current.$ref === 'string' && hops < 32; hops++) {
      const target = this.lookup(current.$ref as string);
      current = { ...omit(current, ['$ref']), ...asRecord(target) };
    }
    return current;
  }

  private lookup(ref: string): Schema {
    if (ref === '#') return omit(this.root, ['$defs', 'definitions', '$schema', '$id']);
    if (!ref.startsWith('#/')) return {};
    let node: unknown = this.root;
    for (const raw of ref.slice(2).split('/')) {
      const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
      node = isRecord(node) ? node[key] : undefined;
    }
    return isRecord(node) || typeof node === 'boolean' ? node : {};
  }

  /** The first non-null branch, except deep inside recursion where a null branch (if any) stops the descent. */
  private chooseBranch(branches: Schema[], depth: number): Schema {
    const isNull = (s: Schema): boolean => this.typeOf(this.resolve(s)) === 'null';
    if (depth >= MAX_DEPTH) return branches.find(isNull) ?? (branches[0] as Schema);
    return branches.find((s) => !isNull(s)) ?? (branches[0] as Schema);
  }

  private typeOf(schema: Record<string, unknown>): string {
    const type = schema.type;
    if (typeof type === 'string') return type;
    if (Array.isArray(type)) return (type.find((t) => t !== 'null') ?? type[0] ?? 'string') as string;
    if (isRecord(schema.properties) || schema.required !== undefined || schema.additionalProperties !== undefined) {
      return 'object';
    }
    if (schema.items !== undefined || schema.prefixItems !== undefined) return 'array';
    if (schema.minimum !== undefined || schema.maximum !== undefined) return 'number';
    return 'string';
  }

  private object(schema: Record<string, unknown>, depth: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const properties = isRecord(schema.properties) ? schema.properties : {};
    const required = Array.isArray(schema.required) ? (schema.required as string[]) : [];
    const names = depth >= MAX_DEPTH ? required : [...new Set([...Object.keys(properties), ...required])];
    for (const name of names) out[name] = this.value(properties[name] as Schema | undefined, depth + 1);
    if (names.length === 0 && isRecord(schema.additionalProperties) && depth < MAX_DEPTH) {
      out[this.word()] = this.value(schema.additionalProperties, depth + 1);
    }
    return out;
  }

  private array(schema: Record<string, unknown>, depth: number): unknown[] {
    const prefix = Array.isArray(schema.prefixItems) ? (schema.prefixItems as Schema[]) : [];
    const items = Array.isArray(schema.items) ? undefined : (schema.items as Schema | undefined);
    const min = Math.max(num(schema.minItems) ?? 0, prefix.length);
    const max = num(schema.maxItems) ?? Infinity;
    // A tuple without `items` (or with `items: false`) is exactly its prefix.
    const closed = prefix.length > 0 && (items === undefined || items === false);
    let count = closed ? prefix.length : depth >= MAX_DEPTH ? min : Math.max(min, this.rng.int(1, 3));
    count = Math.min(count, max);
    const out: unknown[] = [];
    const seen = new Set<string>();
    for (let i = 0, attempts = 0; out.length < count && attempts < count * 20 + 20; attempts++) {
      const value = i < prefix.length ? this.value(prefix[i], depth + 1) : this.value(items, depth + 1);
      const key = JSON.stringify(value);
      if (schema.uniqueItems === true && seen.has(key) && i >= prefix.length) {
        if (out.length >= min) break;
        continue;
      }
      seen.add(key);
      out.push(value);
      i++;
    }
    return out;
  }

  private number(schema: Record<string, unknown>, integer: boolean): number {
    const exMin = num(schema.exclusiveMinimum);
    const exMax = num(schema.exclusiveMaximum);
    const step = num(schema.multipleOf);
    let lo = num(schema.minimum) ?? -Infinity;
    let hi = num(schema.maximum) ?? Infinity;
    const epsilon = integer ? 1 : 0.01;
    if (exMin !== undefined) lo = Math.max(lo, integer ? Math.floor(exMin) + 1 : exMin + epsilon);
    if (exMax !== undefined) hi = Math.min(hi, integer ? Math.ceil(exMax) - 1 : exMax - epsilon);
    if (integer) {
      lo = Math.ceil(lo);
      hi = Math.floor(hi);
    }
    // Prefer small friendly values inside [0, 100] when the allowed range reaches it.
    let from = Math.max(lo, 0);
    let to = Math.min(hi, 100);
    if (from > to) {
      from = Number.isFinite(lo) ? lo : hi - 100;
      to = Number.isFinite(hi) ? Math.min(hi, from + 100) : from + 100;
    }
    if (step !== undefined && step > 0) {
      const first = Math.ceil(from / step);
      const last = Math.max(first, Math.floor(to / step));
      return roundTo(this.rng.int(first, last) * step, step);
    }
    if (integer) return this.rng.int(from, to);
    return Math.min(to, Math.max(from, Math.round((from + this.rng.next() * (to - from)) * 100) / 100));
  }

  private string(schema: Record<string, unknown>): string {
    const formatted = this.formatted(typeof schema.format === 'string' ? schema.format : undefined);
    if (formatted !== undefined) return formatted;
    const min = num(schema.minLength) ?? 0;
    const max = num(schema.maxLength) ?? Infinity;
    let text = this.word();
    while (text.length < min) text += ' ' + this.word();
    if (text.length > max) text = text.slice(0, max);
    return text;
  }

  private formatted(format: string | undefined): string | undefined {
    const r = this.rng;
    switch (format) {
      case 'email':
        return `${r.pick(WORDS)}.${r.pick(WORDS)}@example.com`;
      case 'uuid':
        return `${r.hex(8)}-${r.hex(4)}-4${r.hex(3)}-${r.pick(['8', '9', 'a', 'b'])}${r.hex(3)}-${r.hex(12)}`;
      case 'date-time':
        return `${this.date()}T${this.time()}Z`;
      case 'date':
        return this.date();
      case 'time':
        return this.time();
      case 'uri':
      case 'url':
      case 'iri':
        return `https://example.com/${r.pick(WORDS)}`;
      case 'hostname':
        return `${r.pick(WORDS)}.example.com`;
      case 'ipv4':
        return `10.${r.int(0, 255)}.${r.int(0, 255)}.${r.int(1, 254)}`;
      case 'ipv6':
        return `2001:db8::${r.hex(4)}`;
      case 'duration':
        return `PT${r.int(1, 59)}M`;
      default:
        return undefined;
    }
  }

  private date(): string {
    return `20${this.rng.int(10, 29)}-${pad(this.rng.int(1, 12))}-${pad(this.rng.int(1, 28))}`;
  }

  private time(): string {
    return `${pad(this.rng.int(0, 23))}:${pad(this.rng.int(0, 59))}:${pad(this.rng.int(0, 59))}`;
  }

  private word(): string {
    return this.rng.pick(WORDS);
  }
}

/**
 * A copy of a schema-valid `value` that no longer validates: every property gets a value of another type, so type and
 * enum checks fail. An object without properties gains an unexpected key instead.
 */
export function breakSchemaValue(value: unknown): unknown {
  if (Array.isArray(value)) return 'not-an-array';
  if (!isRecord(value)) return typeof value === 'string' ? 12345 : 'not-a-valid-value';
  const keys = Object.keys(value);
  if (keys.length === 0) return { __sim_invalid__: true };
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const v = value[key];
    out[key] = typeof v === 'string' ? 12345 : isRecord(v) || Array.isArray(v) ? 'not-an-object' : '__sim_invalid__';
  }
  return out;
}

/** JSON text that no JSON parser accepts: the valid text cut in half. */
export function truncateJson(text: string): string {
  return text.length > 1 ? text.slice(0, Math.max(1, Math.floor(text.length / 2))) : '{';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asRecord(schema: unknown): Record<string, unknown> {
  return isRecord(schema) ? schema : {};
}

function omit(record: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  const out = { ...record };
  for (const key of keys) delete out[key];
  return out;
}

/** Shallow merge of `allOf` parts; properties and required lists are unioned. */
function mergeAll(base: Record<string, unknown>, parts: Record<string, unknown>[]): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...base };
  for (const part of parts) {
    const properties = { ...asRecord(merged.properties), ...asRecord(part.properties) };
    const required = [
      ...(Array.isArray(merged.required) ? merged.required : []),
      ...(Array.isArray(part.required) ? part.required : []),
    ];
    Object.assign(merged, part);
    if (Object.keys(properties).length > 0) merged.properties = properties;
    if (required.length > 0) merged.required = [...new Set(required)];
  }
  return merged;
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** Removes float noise such as 0.30000000000000004 from multiples of a decimal step. */
function roundTo(value: number, step: number): number {
  const decimals = (String(step).split('.')[1] ?? '').length;
  return Number(value.toFixed(Math.min(decimals, 12)));
}
