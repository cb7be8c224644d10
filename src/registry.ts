/** The curators a worker knows, by name: workflows carry names, never functions. */
import type { Curator } from './curator';
import { UnknownCuratorError } from './errors';

/** The curators of a worker by name; names must be unique. */
export class CuratorRegistry {
  private readonly byName = new Map<string, Curator>();

  constructor(curators: Iterable<Curator<any, any, any>> = []) {
    for (const curator of curators) this.register(curator);
  }

  /** Adds a curator; registering the same one twice is fine, another of the same name throws. */
  register(curator: Curator<any, any, any>): this {
    const existing = this.byName.get(curator.name);
    if (existing && existing !== curator) {
      throw new Error(`two different curators are named '${curator.name}'; curator names must be unique on a worker`);
    }
    this.byName.set(curator.name, curator as Curator);
    return this;
  }

  /** The curator of that name, or an {@link UnknownCuratorError} naming the registered ones. */
  get(name: string): Curator {
    const curator = this.byName.get(name);
    if (!curator) {
      const known = [...this.byName.keys()].sort().join(', ') || 'none';
      throw new UnknownCuratorError(`no curator named '${name}' is registered on this worker (registered: ${known})`);
    }
    return curator;
  }

  /** The registered names. */
  names(): string[] {
    return [...this.byName.keys()];
  }
}
