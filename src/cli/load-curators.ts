/** Loads the curators a user's module exports: a default array, a `curators` array, or named curator exports. */
import { resolve } from 'node:path';
import type { Curator } from '../curator';

function isCurator(value: unknown): value is Curator {
  const c = value as Partial<Curator> | null;
  return (
    !!c &&
    typeof c === 'object' &&
    typeof c.name === 'string' &&
    typeof c.prompt === 'function' &&
    typeof c.model === 'string'
  );
}

export function loadCurators(modulePath: string): Curator[] {
  const path = resolve(modulePath);
  let mod: Record<string, unknown>;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    mod = require(path) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`cannot load curators from ${path}: ${(err as Error).message}`);
  }
  const found = new Map<string, Curator>();
  const add = (value: unknown) => {
    if (isCurator(value)) found.set(value.name, value);
    else if (Array.isArray(value)) value.filter(isCurator).forEach((c) => found.set(c.name, c));
  };
  add(mod.default);
  add(mod.curators);
  Object.values(mod).forEach(add);
  if (found.size === 0) {
    throw new Error(`${path} exports no curator: export defineCurator(...) results, or an array of them`);
  }
  return [...found.values()];
}
