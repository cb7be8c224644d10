/**
 * zod 3 schemas as response formats: zod 3 has no JSON Schema converter, so the library reads the schema's
 * definition. The JSON Schema must accept and refuse what zod 4's converter does for the same shape (the provider is
 * told the same thing), the zod schema itself still validates answers, and a part with no JSON form is refused
 * where the curator is defined. `zod/v3` is zod 3's API as zod 4 ships it: genuine zod 3 schemas.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Ajv2020 from 'ajv/dist/2020';
import { z as z4 } from 'zod';
import { z as z3 } from 'zod/v3';
import { defineCurator } from '../../src/curator';
import { resolveResponseFormat, type JsonSchema } from '../../src/schema';
import { isZod3Schema, zod3ToJsonSchema } from '../../src/zod3';

/** One shape, written in either zod. */
function review<Z extends typeof z3 | typeof z4>(z: Z) {
  const zz = z as typeof z3;
  return zz
    .object({
      title: zz.string().min(3).max(40).describe('a short title'),
      stars: zz.number().int().min(1).max(5),
      verdict: zz.enum(['buy', 'skip']),
      tags: zz.array(zz.string()).max(3),
      note: zz.string().nullable(),
      source: zz.literal('web'),
      score: zz.union([zz.number(), zz.string()]),
      extra: zz.string().optional(),
      counts: zz.record(zz.string(), zz.number()),
    })
    .strict();
}

const good = {
  title: 'Fine kettle',
  stars: 4,
  verdict: 'buy',
  tags: ['kitchen'],
  note: null,
  source: 'web',
  score: 7,
  counts: { a: 1 },
};
const bad: Record<string, unknown>[] = [
  { ...good, title: 'no' },
  { ...good, stars: 4.5 },
  { ...good, stars: 6 },
  { ...good, verdict: 'maybe' },
  { ...good, tags: ['a', 'b', 'c', 'd'] },
  { ...good, note: 3 },
  { ...good, source: 'mail' },
  { ...good, score: true },
  { ...good, counts: { a: 'one' } },
  { ...good, unexpected: 1 },
  (({ verdict: _v, ...rest }) => rest)(good),
];

function accepts(schema: JsonSchema, value: unknown): boolean {
  const { $schema: _ignored, ...body } = schema;
  return new Ajv2020({ strict: false }).compile(body)(value);
}

describe('zod 3 schemas', () => {
  test('are told apart from zod 4 schemas and JSON Schema objects', () => {
    assert.equal(isZod3Schema(review(z3)), true);
    assert.equal(isZod3Schema(review(z4)), false);
    assert.equal(isZod3Schema({ type: 'object' }), false);
  });

  test("their JSON Schema accepts and refuses the same values as zod 4's for the same shape", () => {
    const ours = zod3ToJsonSchema(review(z3));
    const zod4 = z4.toJSONSchema(review(z4) as unknown as z4.ZodType) as JsonSchema;
    assert.equal(accepts(ours, good), true);
    assert.equal(accepts(zod4, good), true);
    for (const value of bad) {
      assert.equal(accepts(ours, value), false, JSON.stringify(value));
      assert.equal(accepts(zod4, value), false, JSON.stringify(value));
    }
    assert.equal((ours.properties as Record<string, JsonSchema>).title!.description, 'a short title');
    assert.equal(accepts(ours, { ...good, extra: 'x' }), true);
  });

  test('run as response formats: the JSON Schema for the provider, the zod schema validating answers', () => {
    const curator = defineCurator({
      name: 'reviews',
      model: 'gpt-4o-mini',
      prompt: (row: { product: string }) => `Review ${row.product}`,
      responseFormat: review(z3),
    });
    const format = resolveResponseFormat(curator.responseFormat)!;
    assert.equal((format.jsonSchema as { type: string }).type, 'object');
    assert.deepEqual(format.validate(good), { ok: true, value: good });
    const refused = format.validate({ ...good, stars: 9 });
    assert.equal(refused.ok, false);
  });

  test('a part with no JSON form is refused where the curator is defined, named by its path', () => {
    assert.throws(
      () =>
        defineCurator({
          name: 'dated',
          model: 'gpt-4o-mini',
          prompt: () => 'When?',
          responseFormat: z3.object({ when: z3.object({ day: z3.date() }) }),
        }),
      /curator 'dated': responseFormat\.when\.day: a zod 3 ZodDate has no JSON Schema form.*zod@\^4/
    );
  });
});
