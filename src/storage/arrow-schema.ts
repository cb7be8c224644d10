/**
 * Mapping between plain JSON rows and Arrow types: schema inference, plus the row encoder and batch decoder that
 * `arrow.ts` uses to write and read record batches.
 *
 * Inference rules (applied recursively):
 * - string → Utf8, boolean → Bool, array → List<item>, plain object → Struct (union of keys, first-seen order).
 * - number → Int64 when every value seen is an integer in int64 range, otherwise Float64 (integers are promoted).
 * - null, undefined and missing keys → null values; every field is nullable.
 * - A column (or nested field, or list item) that only ever holds nulls → Null. pyarrow infers the same for
 *   all-null data, and `unify_schemas` / `concat_tables` can promote Null to whatever another shard inferred.
 * - Empty arrays only → List<Null>, by the rule above.
 * - Conflicting kinds (string and object, number and boolean, …) → Utf8, where strings are kept as they are and
 *   any other value is stored as `JSON.stringify(value)`. This is lossy: such a column reads back as strings.
 *   Non-plain objects (Date, Map, class instances) and bigints outside int64 are stored the same way.
 */
import {
  Bool,
  type Data,
  DataType,
  Field,
  Float64,
  Int64,
  List,
  makeVector,
  Null,
  Schema,
  Struct,
  Utf8,
} from 'apache-arrow';

/** One dataset row: a plain JSON object. */
export type JsonRow = Record<string, unknown>;

type Kind = 'null' | 'string' | 'bool' | 'int' | 'float' | 'list' | 'struct' | 'json';

/** Mutable inference state for one column, nested field or list item. */
class TypeNode {
  kind: Kind = 'null';
  item?: TypeNode;
  fields?: Map<string, TypeNode>;
}

const INT64_MIN = -(2 ** 63);
const INT64_MAX_EXCLUSIVE = 2 ** 63;
const INT64_MIN_BIG = -(2n ** 63n);
const INT64_MAX_BIG = 2n ** 63n - 1n;

function isPlainObject(value: object): value is Record<string, unknown> {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function kindOf(value: unknown): Kind {
  switch (typeof value) {
    case 'string':
      return 'string';
    case 'boolean':
      return 'bool';
    case 'number':
      return Number.isInteger(value) && value >= INT64_MIN && value < INT64_MAX_EXCLUSIVE ? 'int' : 'float';
    case 'bigint':
      return value >= INT64_MIN_BIG && value <= INT64_MAX_BIG ? 'int' : 'json';
    case 'object':
      if (Array.isArray(value)) return 'list';
      return isPlainObject(value as object) ? 'struct' : 'json';
    default:
      return 'json';
  }
}

function observeValue(node: TypeNode, value: unknown): void {
  if (value === null || value === undefined || node.kind === 'json') return;
  const kind = kindOf(value);
  if (node.kind !== kind) {
    if (node.kind === 'null') {
      node.kind = kind;
      if (kind === 'list') node.item = new TypeNode();
      if (kind === 'struct') node.fields = new Map();
    } else if ((node.kind === 'int' || node.kind === 'float') && (kind === 'int' || kind === 'float')) {
      node.kind = 'float';
      return;
    } else {
      node.kind = 'json';
      // Children of a JSON-encoded value are never consulted again; dropping them keeps memory flat.
      node.item = undefined;
      node.fields = undefined;
      return;
    }
  }
  if (kind === 'list') {
    for (const item of value as unknown[]) observeValue(node.item!, item);
  } else if (kind === 'struct') {
    observeFields(node.fields!, value as Record<string, unknown>);
  }
}

function observeFields(fields: Map<string, TypeNode>, object: Record<string, unknown>): void {
  for (const key of Object.keys(object)) {
    let child = fields.get(key);
    if (!child) {
      child = new TypeNode();
      fields.set(key, child);
    }
    observeValue(child, object[key]);
  }
}

function toArrowType(node: TypeNode): DataType {
  switch (node.kind) {
    case 'null':
      return new Null();
    case 'string':
    case 'json':
      return new Utf8();
    case 'bool':
      return new Bool();
    case 'int':
      return new Int64();
    case 'float':
      return new Float64();
    case 'list':
      // 'item' is the child name pyarrow and Arrow C++ use, so the schema compares equal to theirs.
      return new List(new Field('item', toArrowType(node.item!), true));
    case 'struct':
      return new Struct(toArrowFields(node.fields!));
  }
}

function toArrowFields(fields: Map<string, TypeNode>): Field[] {
  return [...fields].map(([name, node]) => new Field(name, toArrowType(node), true));
}

/**
 * Infers an Arrow schema from JSON rows. Column order is the order in which keys first appear; see the module
 * comment for the type rules.
 */
export class SchemaInferrer {
  private readonly columns = new Map<string, TypeNode>();
  private count = 0;

  /** Number of rows observed so far. */
  get rows(): number {
    return this.count;
  }

  /** Widens the schema so that it can hold `row`. Throws if `row` is not a plain object. */
  observe(row: JsonRow): void {
    if (row === null || typeof row !== 'object' || Array.isArray(row) || !isPlainObject(row)) {
      throw new TypeError(`Row ${this.count} is not a plain object`);
    }
    observeFields(this.columns, row);
    this.count++;
  }

  /** The schema of everything observed so far; an empty schema if no row had any key. */
  schema(): Schema {
    return new Schema(toArrowFields(this.columns));
  }
}

/** A value as the Arrow builders want it: structs as arrays in field order, Int64 as bigint. */
type Encoder = (value: unknown) => unknown;

const MIN_SAFE_BIG = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'object' && value !== null && isPlainObject(value)) return 'object';
  return typeof value === 'object' ? String(value?.constructor?.name ?? 'object') : typeof value;
}

function mismatch(path: string, type: DataType, value: unknown): Error {
  return new Error(
    `Value at ${path || '<row>'} is ${describe(value)}, which does not fit inferred type ${type}; ` +
      'the rows factory must yield the same rows on both passes'
  );
}

function toJsonText(value: unknown): string | null {
  if (typeof value === 'bigint') return value.toString();
  const text = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  // JSON.stringify returns undefined for functions and symbols; there is nothing to store.
  return text === undefined ? null : text;
}

function compileEncoder(type: DataType, path: string): Encoder {
  if (DataType.isNull(type)) {
    return (v) => {
      if (v == null) return null;
      throw mismatch(path, type, v);
    };
  }
  if (DataType.isUtf8(type)) {
    // Also the encoding for columns with conflicting kinds: only there can a non-string reach this point.
    return (v) => (v == null ? null : typeof v === 'string' ? v : toJsonText(v));
  }
  if (DataType.isBool(type)) {
    return (v) => {
      if (v == null || typeof v === 'boolean') return v ?? null;
      throw mismatch(path, type, v);
    };
  }
  if (DataType.isInt(type)) {
    return (v) => {
      if (v == null) return null;
      if (kindOf(v) !== 'int') throw mismatch(path, type, v);
      return typeof v === 'bigint' ? v : BigInt(v as number);
    };
  }
  if (DataType.isFloat(type)) {
    return (v) => {
      if (v == null) return null;
      if (typeof v === 'number') return v;
      if (typeof v === 'bigint') return Number(v);
      throw mismatch(path, type, v);
    };
  }
  if (DataType.isList(type)) {
    const item = compileEncoder(type.children[0].type, `${path}[]`);
    return (v) => {
      if (v == null) return null;
      if (!Array.isArray(v)) throw mismatch(path, type, v);
      return v.map(item);
    };
  }
  if (DataType.isStruct(type)) {
    const fields = compileFieldsEncoder(type.children, path);
    return (v) => {
      if (v == null) return null;
      if (typeof v !== 'object' || Array.isArray(v) || !isPlainObject(v)) throw mismatch(path, type, v);
      return fields(v);
    };
  }
  throw new Error(`Unsupported Arrow type ${type} at ${path}`);
}

function compileFieldsEncoder(fields: Field[], path: string): (object: Record<string, unknown>) => unknown[] {
  const names = fields.map((f) => f.name);
  const known = new Set(names);
  // `row.constructor` or `row.toString` would otherwise read Object.prototype when the key is absent.
  const inherited = names.map((name) => name in Object.prototype);
  const encoders = fields.map((f) => compileEncoder(f.type, path ? `${path}.${f.name}` : f.name));
  return (object) => {
    const out = new Array<unknown>(names.length);
    for (let i = 0; i < names.length; i++) {
      const name = names[i];
      const value = inherited[i] && !Object.hasOwn(object, name) ? undefined : object[name];
      out[i] = encoders[i](value);
    }
    for (const key of Object.keys(object)) {
      if (!known.has(key)) {
        throw new Error(
          `Key ${path ? `${path}.${key}` : key} was not seen during schema inference; ` +
            'the rows factory must yield the same rows on both passes'
        );
      }
    }
    return out;
  };
}

/**
 * Compiles a function that turns a row into the value a `Struct(schema.fields)` builder accepts: an array in field
 * order, with Int64 values as bigint and conflicting values JSON-encoded. It throws if the row holds a key or a kind
 * that the schema was not inferred from.
 * @internal
 */
export function createRowEncoder(schema: Schema): (row: JsonRow) => unknown[] {
  const fields = compileFieldsEncoder(schema.fields, '');
  return (row) => {
    if (row === null || typeof row !== 'object' || Array.isArray(row) || !isPlainObject(row)) {
      throw new TypeError('Row is not a plain object');
    }
    return fields(row);
  };
}

/** Reads value `i` of one Data chunk; built once per chunk so the per-value work is a closure call. */
type Decoder = (data: Data) => (i: number) => unknown;

function fromBigInt(value: bigint): number | bigint {
  return value >= MIN_SAFE_BIG && value <= MAX_SAFE_BIG ? Number(value) : value;
}

function setOwn(object: Record<string, unknown>, key: string, value: unknown): void {
  // Plain assignment to '__proto__' would replace the prototype instead of creating a key.
  if (key === '__proto__') {
    Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    object[key] = value;
  }
}

function compileDecoder(type: DataType): Decoder {
  if (DataType.isNull(type)) return () => () => null;
  if (DataType.isInt(type) && type.bitWidth === 64) {
    return (data) => {
      const vector = makeVector(data);
      return (i) => {
        const v = vector.get(i) as bigint | null;
        return v === null ? null : fromBigInt(v);
      };
    };
  }
  if (DataType.isList(type) || DataType.isLargeList(type)) {
    const item = compileDecoder(type.children[0].type);
    return (data) => {
      const offsets = data.valueOffsets as Int32Array | BigInt64Array;
      const readItem = item(data.children[0]);
      return (i) => {
        if (!data.getValid(i)) return null;
        const end = Number(offsets[i + 1]);
        const out: unknown[] = [];
        for (let k = Number(offsets[i]); k < end; k++) out.push(readItem(k));
        return out;
      };
    };
  }
  if (DataType.isStruct(type)) {
    const fields = compileFieldsDecoder(type.children);
    return (data) => {
      const read = fields(data);
      return (i) => (data.getValid(i) ? read(i) : null);
    };
  }
  // Utf8, Bool, Float and anything a foreign writer produced: Arrow's own getter already yields a JS value.
  return (data) => {
    const vector = makeVector(data);
    return (i) => vector.get(i);
  };
}

function compileFieldsDecoder(fields: Field[]): (data: Data) => (i: number) => JsonRow {
  const names = fields.map((f) => f.name);
  const decoders = fields.map((f) => compileDecoder(f.type));
  return (data) => {
    // Struct children are sliced along with their parent, so child index i is parent index i.
    const readers = decoders.map((decode, j) => decode(data.children[j]));
    return (i) => {
      const row: JsonRow = {};
      for (let j = 0; j < names.length; j++) setOwn(row, names[j], readers[j](i));
      return row;
    };
  };
}

/**
 * Compiles the inverse of {@link createRowEncoder}: given the Struct data of a record batch, a function from row
 * index to plain JSON row. Int64 values come back as numbers when they are safe integers and as bigint otherwise;
 * JSON-encoded conflict values come back as the strings they were stored as.
 * @internal
 */
export function createBatchDecoder(schema: Schema): (data: Data) => (i: number) => JsonRow {
  return compileFieldsDecoder(schema.fields);
}
