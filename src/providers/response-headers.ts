/**
 * The headers of a response read by our HTTP path (`http-transport.ts`): what `fetch`'s `Headers` gives a reader
 * (case-insensitive `get`, values of a repeated name joined with ", ", iteration in name order, `set-cookie` apart),
 * built from the socket's raw header list without the validation of every `append` that undici's `Headers` does,
 * and immutable, as a fetched response's headers are.
 *
 * Not an instance of `Headers`, on purpose: both SDKs format a debug entry for every response whether or not they
 * log (`formatRequestDetails`), and they copy and sort only the entries of `Headers` instances; of anything else they
 * take its own enumerable fields, which this class has none of. What the SDKs and the engine read (`get`, `entries`,
 * `forEach`) works as on `Headers`; an SDK debug log shows `{}` for a response's headers.
 */
import { inspect } from 'node:util';

export class ResponseHeaders implements Headers {
  /** Values by lower-case name, in the order received. */
  readonly #values = new Map<string, string[]>();

  /** @param raw Names and values alternating, as `IncomingMessage.rawHeaders`. */
  constructor(raw: readonly string[]) {
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      const value = raw[i + 1]!.trim();
      const values = this.#values.get(name);
      if (values) values.push(value);
      else this.#values.set(name, [value]);
    }
  }

  get(name: string): string | null {
    return this.#values.get(name.toLowerCase())?.join(', ') ?? null;
  }

  has(name: string): boolean {
    return this.#values.has(name.toLowerCase());
  }

  getSetCookie(): string[] {
    return [...(this.#values.get('set-cookie') ?? [])];
  }

  *entries(): IterableIterator<[string, string]> {
    for (const name of [...this.#values.keys()].sort()) {
      const values = this.#values.get(name)!;
      // As `Headers`: each cookie on its own, every other name once with its values joined.
      if (name === 'set-cookie') for (const value of values) yield [name, value];
      else yield [name, values.join(', ')];
    }
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }

  *keys(): IterableIterator<string> {
    for (const [name] of this.entries()) yield name;
  }

  *values(): IterableIterator<string> {
    for (const [, value] of this.entries()) yield value;
  }

  forEach(callback: (value: string, name: string, headers: Headers) => void, thisArg?: unknown): void {
    for (const [name, value] of this.entries()) callback.call(thisArg, value, name, this);
  }

  append(): void {
    throw new TypeError('immutable: the headers of a response cannot be changed');
  }

  set(): void {
    throw new TypeError('immutable: the headers of a response cannot be changed');
  }

  delete(): void {
    throw new TypeError('immutable: the headers of a response cannot be changed');
  }

  /** Shown as its entries by `console.log` and `util.inspect`. */
  [inspect.custom](): Record<string, string> {
    return Object.fromEntries(this.entries());
  }
}
