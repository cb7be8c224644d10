/** The curators a worker knows, by name: workflows carry names, never functions. */
import type { Curator } from './curator';
import { UnknownCuratorError } from './errors';

export class CuratorRegistry {
  private readonly byName = new Map<string, Curator>();

  constructor(curators: Iterable<Curator<any, any, any>> = []) {
    for (const curator of curators) this.register(curator);
  }

  register(curator: Curator<any, any, any>): this {
    const existing = this.byName.get(curator.name);
    if (existing && existing !== curator) {
      throw new Error(`two different curators are named '${curator.name}'; curator names must be unique on a worker`);
    }
    this.byName.set(curator.name, curator as Curator);
    return this;
  }

  get(name: string): Curator {
    const curator = this.byName.get(name);
    if (!curator) {
      const known = [...this.byName.keys()].sort().join(', ') || 'none';
      throw new UnknownCuratorError(`no curator named '${name}' is registered on this worker (registered: ${known})`);
    }
    return curator;
  }

  names(): string[] {
    return [...this.byName.keys()];
  }
}
