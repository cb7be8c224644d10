/** The two forms a response format may take: a JSON Schema document, or a zod-like schema. */

/** A JSON Schema document (draft 7 or 2020-12). */
export type JsonSchema = { [key: string]: unknown };

/**
 * Anything with a zod-like `safeParse`: a zod 4 or zod 3 schema. The provider gets its JSON Schema (zod 4's own
 * `toJSONSchema`; for zod 3, which has none, read from the schema's definition), and the model's output is
 * validated with `safeParse`. zod is an optional peer dependency: the user's zod is used.
 */
export interface ZodLike<T = unknown> {
  /** Validates `value`: its parsed data, or an error whose message says what does not match. */
  safeParse(value: unknown): { success: true; data: T } | { success: false; error: { message: string } };
}
